'use strict';
// The all-languages worker (alllang_worker.js), run as the orchestrator runs it.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const ziggydb = require('..');
const { tempDir } = require('./helpers');

const worker = path.join(__dirname, '..', 'alllang_worker.js');

function run(dir, name, peers) {
  const child = spawn(process.execPath, [worker, dir, name, peers], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

test('two workers on one directory both check out', async (t) => {
  const dir = tempDir(t);
  const [a, b] = await Promise.all([run(dir, 'node', 'node,node2'), run(dir, 'node2', 'node,node2')]);
  assert.deepEqual(a, { code: 0, out: 'node ok\n', err: '' });
  assert.deepEqual(b, { code: 0, out: 'node2 ok\n', err: '' });
  const db = ziggydb.open(dir);
  t.after(() => db.close());
  assert.equal(db.get('all:counter'), 1000);
  assert.equal(db.get('all:ready'), 2);
  assert.equal(db.execute('LLEN', 'all:list'), 200);
  const list = db.execute('LRANGE', 'all:list', 0, -1).map(String);
  for (const name of ['node', 'node2']) {
    const mine = list.filter((e) => e.startsWith(`${name}:`));
    assert.deepEqual(mine, Array.from({ length: 100 }, (_, i) => `${name}:${i}`), 'in order');
  }
});

test('a peer whose values are wrong or missing is reported, exit 1', async (t) => {
  const dir = tempDir(t);
  const db = ziggydb.open(dir);
  db.set('all:done', 1); // the "ghost" peer is done without writing anything
  db.set('typed:ghost:float', 0.2);
  db.set('typed:ghost:string', 'ziggy ✓ ghost');
  db.close();
  const r = await run(dir, 'node', 'node,ghost');
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  const lines = r.err.trim().split('\n');
  assert.ok(lines.includes('ghost float: expected 0.1 (bit for bit), read number 0.2'), r.err);
  assert.ok(lines.includes('ghost int: expected -9007199254740993n, read nothing'), r.err);
  assert.ok(!lines.some((l) => l.startsWith('ghost string')), 'a right value is no problem');
  assert.ok(!lines.some((l) => l.startsWith('node ')), 'its own values check out');
  assert.equal(lines.length, 6, r.err);
});

test('usage error without three arguments', async () => {
  const child = spawn(process.execPath, [worker], { stdio: ['ignore', 'pipe', 'pipe'] });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 2);
});
