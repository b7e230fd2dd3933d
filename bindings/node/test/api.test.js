'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const ziggydb = require('..');
const { tempDir } = require('./helpers');

test('get, set, delete, incr, execute, close', (t) => {
  const db = ziggydb.open(tempDir(t));
  assert.equal(db.get('missing'), null);
  db.set('greeting', 'hello');
  assert.equal(db.get('greeting'), 'hello');
  assert.equal(db.delete('greeting'), true);
  assert.equal(db.delete('greeting'), false);
  assert.equal(db.get('greeting'), null);
  assert.equal(db.incr('n'), 1);
  assert.equal(db.incr('n', 41), 42);
  assert.equal(db.incr('n', -2), 40);
  assert.equal(db.execute('ZADD', 'board', 10, 'ada'), 1);
  assert.equal(db.execute('ZSCORE', 'board', 'ada'), 10);
  db.close();
  assert.equal(db.closed, true);
  assert.throws(() => db.get('n'), ziggydb.ClosedError);
  db.close(); // twice is fine
});
