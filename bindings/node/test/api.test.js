'use strict';
// The API of the package: every call, typed round trips, binary data, errors, expiry and
// transactions.
const test = require('node:test');
const assert = require('node:assert/strict');
const ziggydb = require('..');
const { tempDir } = require('./helpers');

function fresh(t, opts) {
  const db = ziggydb.open(tempDir(t), opts);
  t.after(() => db.close());
  return db;
}

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
  assert.match(db.path, /db$/);
  assert.equal(db.closed, false);
  db.close();
  assert.equal(db.closed, true);
  assert.throws(() => db.get('n'), ziggydb.ClosedError);
  assert.throws(() => db.set('n', 1), { name: 'ClosedError', code: 'CLOSED' });
  db.close(); // twice is fine
});

test('a value reads back as the type it was written as', (t) => {
  const db = fresh(t);
  const cases = [
    ['bytes', Buffer.from([0x7a, 0x69, 0x67, 0x00, 0x67, 0x79, 0xff]), 'bytes'],
    ['string', 'ziggy ✓ node', 'string'],
    ['empty string', '', 'string'],
    ['int', 42, 'int'],
    ['negative int', -7, 'int'],
    ['largest safe int', Number.MAX_SAFE_INTEGER, 'int'],
    ['float', 0.1, 'float'],
    ['float beyond 2^53', 2 ** 60, 'float'],
    ['bool true', true, 'bool'],
    ['bool false', false, 'bool'],
    ['bigint', -9007199254740993n, 'int'],
    ['int64 max', 2n ** 63n - 1n, 'int'],
    ['int64 min', -(2n ** 63n), 'int'],
    ['timestamp', new Date(1767225600123), 'timestamp'],
    ['json object', { lang: 'node', list: [1, 2.5, null, true, 'x'] }, 'json'],
    ['json array', [1, 'two', { three: 3 }], 'json'],
  ];
  for (const [name, value, type] of cases) {
    const key = `typed:${name}`;
    db.set(key, value);
    assert.equal(db.execute('GETTYPE', key).toString(), type, `${name} is stored as ${type}`);
    const back = db.get(key);
    if (value instanceof Date) {
      assert.ok(back instanceof Date, name);
      assert.equal(back.getTime(), value.getTime(), name);
    } else {
      assert.deepEqual(back, value, name);
    }
    if (typeof value === 'bigint') {
      assert.equal(typeof back, 'bigint', `${name} reads as a bigint beyond 2^53`);
    }
  }
  // 0.1 bit for bit.
  const f = new Float64Array([db.get('typed:float')]);
  assert.deepEqual(Buffer.from(f.buffer), Buffer.from(new Float64Array([0.1]).buffer));
  // A whole bigint within 2^53 reads as a number.
  db.set('small bigint', 5n);
  assert.equal(db.get('small bigint'), 5);
});

test('explicit types: a whole float, JSON text, bytes of a string', (t) => {
  const db = fresh(t);
  db.set('f', ziggydb.float(3));
  assert.equal(db.execute('GETTYPE', 'f').toString(), 'float');
  assert.equal(db.get('f'), 3);
  db.set('f2', 4, { type: 'float' });
  assert.equal(db.execute('GETTYPE', 'f2').toString(), 'float');
  db.set('i', 5, { type: 'int' });
  assert.equal(db.execute('GETTYPE', 'i').toString(), 'int');
  db.set('j', '{"a":[1,2]}', { type: 'json' });
  assert.equal(db.execute('GETTYPE', 'j').toString(), 'json');
  assert.deepEqual(db.get('j'), { a: [1, 2] });
  db.set('js', 'just text', { type: 'string' });
  assert.equal(db.get('js'), 'just text');
  db.set('b', 'abc', { type: 'bytes' });
  assert.deepEqual(db.get('b'), Buffer.from('abc'));
  db.set('ts', 1767225600123, { type: 'timestamp' });
  assert.equal(db.get('ts').getTime(), 1767225600123);
  db.set('u8', new Uint8Array([1, 2, 3]));
  assert.deepEqual(db.get('u8'), Buffer.from([1, 2, 3]));
  assert.throws(() => db.set('x', 'abc', { type: 'int' }), TypeError);
  assert.throws(() => db.set('x', 1.5, { type: 'int' }), TypeError);
  assert.throws(() => db.set('x', 1, { type: 'nope' }), /unknown type 'nope'/);
});

test('values the binding cannot store are TypeErrors', (t) => {
  const db = fresh(t);
  assert.throws(() => db.set('k', undefined), TypeError);
  assert.throws(() => db.set('k', null), /delete a key with db.delete/);
  assert.throws(() => db.set('k', () => 1), TypeError);
  assert.throws(() => db.set('k', Symbol('s')), TypeError);
  assert.throws(() => db.set('k', new Date(NaN)), /invalid Date/);
  assert.throws(() => db.set(42, 'v'), /a key is a string or a Buffer/);
  assert.throws(() => db.set('k', 2n ** 64n), (e) => e instanceof ziggydb.InvalidArgumentError && /64-bit/.test(e.message));
  assert.throws(() => db.incr('k', 1.5), TypeError);
  assert.equal(db.get('k'), null);
});

test('binary keys and values with NUL bytes', (t) => {
  const db = fresh(t);
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  const key = Buffer.from([0, 1, 0, 0xff, 0]);
  db.set(key, all);
  assert.deepEqual(db.get(key), all);
  assert.equal(db.get(Buffer.from([0, 1, 0, 0xff])), null, 'the trailing NUL is part of the key');
  // A string key is its UTF-8 bytes: the same key as the Buffer of them.
  db.set('k\u0000ey', Buffer.from('a\0b'));
  assert.deepEqual(db.get(Buffer.from('k\0ey')), Buffer.from('a\0b'));
  // Through execute, both ways.
  assert.equal(db.execute('SET', Buffer.from('x\0y'), Buffer.from([0, 0, 7])), 'OK');
  assert.deepEqual(db.execute('GET', Buffer.from('x\0y')), Buffer.from([0, 0, 7]));
  assert.deepEqual(db.get(Buffer.from('x\0y')), Buffer.from([0, 0, 7]));
  // A string with a NUL inside stays whole.
  db.set('s', 'before\0after');
  assert.equal(db.get('s'), 'before\0after');
  assert.equal(db.delete(key), true);
  assert.equal(db.get(key), null);
});

test('execute replies as JS values', (t) => {
  const db = fresh(t);
  assert.equal(db.execute('SET', 'k', 'v'), 'OK');
  assert.deepEqual(db.execute('GET', 'k'), Buffer.from('v'));
  assert.equal(db.execute('GET', 'missing'), null);
  assert.equal(db.execute('RPUSH', 'l', 'a', 'b', 'c'), 3);
  assert.deepEqual(db.execute('LRANGE', 'l', 0, -1), [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
  assert.equal(db.execute('HSET', 'h', 'name', 'ada', 'lang', 'node'), 2);
  assert.deepEqual(db.execute('HGETALL', 'h'), { name: Buffer.from('ada'), lang: Buffer.from('node') });
  assert.equal(db.execute('ZADD', 'z', '1.5', 'a', 2, 'b'), 2);
  assert.equal(db.execute('ZSCORE', 'z', 'a'), 1.5);
  assert.deepEqual(db.execute('ZRANGE', 'z', 0, -1, 'WITHSCORES'), [
    [Buffer.from('a'), 1.5],
    [Buffer.from('b'), 2],
  ]);
  assert.deepEqual(db.execute(['MGET', 'k', 'missing']), [Buffer.from('v'), null]);
  assert.equal(db.execute('SET', 'big', '9007199254740992'), 'OK');
  assert.equal(db.execute('INCR', 'big'), 9007199254740993n);
  assert.equal(db.execute('INCRBY', 'small', 5n), 5);
  assert.equal(db.execute('PING'), 'PONG');
  assert.equal(db.execute('EXISTS', 'k', 'l', 'nope'), 2);

  const s = fresh(t, { strings: true });
  s.set('k', 'välue');
  assert.equal(s.execute('GET', 'k'), 'välue');
  s.execute('HSET', 'h', 'f', 'v');
  assert.deepEqual(s.execute('HGETALL', 'h'), { f: 'v' });
});

test('error replies are thrown as ReplyError with the Redis text', (t) => {
  const db = fresh(t);
  db.set('s', 'text');
  assert.throws(
    () => db.execute('LPUSH', 's', 'x'),
    (e) =>
      e instanceof ziggydb.ReplyError &&
      e instanceof ziggydb.ZiggyError &&
      e.code === 'REPLY_ERROR' &&
      e.prefix === 'WRONGTYPE' &&
      e.message.startsWith('WRONGTYPE Operation against a key holding the wrong kind of value'),
  );
  assert.throws(() => db.execute('NOSUCHCOMMAND'), (e) => e instanceof ziggydb.ReplyError && e.prefix === 'ERR' && /unknown command/i.test(e.message));
  assert.throws(() => db.execute('GET'), (e) => e.prefix === 'ERR' && /wrong number of arguments/i.test(e.message));
  assert.throws(() => db.execute('MULTI'), (e) => e instanceof ziggydb.ReplyError && /db\.transaction/.test(e.message));
  assert.throws(() => db.execute(), TypeError);
  assert.throws(() => db.execute('SET', 'k', {}), /argument 2 of execute/);
});

test("the library's errors are ZiggyError subclasses with its code and message", (t) => {
  const db = fresh(t);
  db.set('s', 'text');
  db.execute('RPUSH', 'list', 'a');
  assert.throws(
    () => db.incr('s'),
    (e) => e instanceof ziggydb.NotAnIntegerError && e instanceof ziggydb.ZiggyError && e.code === 'NOT_AN_INTEGER' && e.errno === 101 && e.message === 'value is not an integer or out of range',
  );
  assert.throws(() => db.get('list'), (e) => e instanceof ziggydb.WrongTypeError && e.code === 'WRONG_TYPE' && e.errno === 100 && /WRONGTYPE/.test(e.message));
  assert.throws(() => db.set('j', '{oops', { type: 'json' }), (e) => e instanceof ziggydb.InvalidJsonError && e.code === 'INVALID_JSON');
  assert.throws(() => db.set('x'.repeat(65537), 'v'), (e) => e instanceof ziggydb.KeyTooLargeError && /65537/.test(e.message));
  db.set('max', 2n ** 63n - 1n);
  assert.throws(() => db.incr('max'), (e) => e instanceof ziggydb.OverflowError);
  // A second open of the same directory in this process must agree on the options.
  assert.throws(() => ziggydb.open(db.path, { durability: 'batched' }), (e) => e instanceof ziggydb.OptionsMismatchError);
  assert.throws(() => ziggydb.open(db.path, { durability: 'sometimes' }), (e) => e instanceof ziggydb.InvalidArgumentError && /durability/.test(e.message));
  assert.equal(ziggydb.ERROR_CODES.WRONG_TYPE, 100);
  for (const [code, errno] of Object.entries(ziggydb.ERROR_CODES)) {
    const cls = Object.values(ziggydb).find((v) => typeof v === 'function' && v.prototype instanceof ziggydb.ZiggyError && new v('m').code === code);
    assert.ok(cls, `a class for ${code}`);
    assert.equal(new cls('m').errno, errno);
  }
});

test('open errors: a file in the way, a directory of other files', (t) => {
  const fs = require('node:fs');
  const path = require('node:path');
  const dir = tempDir(t);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
  assert.throws(() => ziggydb.open(dir), (e) => e instanceof ziggydb.NotADatabaseError && e.message.includes(dir));
  const file = path.join(dir, 'notes.txt');
  assert.throws(() => ziggydb.open(file), (e) => e instanceof ziggydb.ZiggyError && e.code === 'NOT_A_DIRECTORY');
  assert.throws(() => ziggydb.open(42), TypeError);
});

test('expiry: ex, px, pxat, keepTtl', async (t) => {
  const db = fresh(t);
  db.set('short', 'v', { px: 50 });
  db.set('long', 'v', { ex: 100 });
  const pttl = db.execute('PTTL', 'long');
  assert.ok(pttl > 90_000 && pttl <= 100_000, `PTTL ${pttl}`);
  db.set('long', 'w', { keepTtl: true });
  assert.ok(db.execute('PTTL', 'long') > 90_000, 'keepTtl keeps the expiry');
  assert.equal(db.get('long'), 'w');
  db.set('long', 'x');
  assert.equal(db.execute('PTTL', 'long'), -1, 'a plain set removes the expiry');
  const at = Date.now() + 3_600_000;
  db.set('at', 'v', { pxat: at });
  assert.equal(db.execute('PEXPIRETIME', 'at'), at);
  db.set('at2', 'v', { exat: Math.floor(at / 1000) });
  assert.equal(db.execute('EXPIRETIME', 'at2'), Math.floor(at / 1000));
  assert.throws(() => db.set('k', 'v', { ex: 0 }), /positive/);
  assert.throws(() => db.set('k', 'v', { ex: 1, px: 1 }), /at most one/);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(db.get('short'), null, 'expired 150 ms ago');
});

test('transaction commits when the function returns', (t) => {
  const db = fresh(t);
  db.set('balance', 100);
  const result = db.transaction((tx) => {
    assert.equal(tx.active, true);
    const b = tx.get('balance');
    tx.set('balance', b - 30);
    tx.set('log', ['paid', 30]);
    assert.equal(tx.get('balance'), 70, 'the transaction reads its own writes');
    assert.equal(tx.incr('count', 2), 2);
    assert.equal(tx.delete('nothing'), false);
    assert.equal(tx.execute('RPUSH', 'history', 'a', 'b'), 2);
    assert.deepEqual(tx.execute('LRANGE', 'history', 0, -1), [Buffer.from('a'), Buffer.from('b')]);
    tx.execute('HSET', 'h', 'f', 'v');
    assert.deepEqual(tx.execute('HGETALL', 'h'), { f: Buffer.from('v') }, 'same shapes as db.execute');
    return 'done';
  });
  assert.equal(result, 'done');
  assert.equal(db.get('balance'), 70);
  assert.deepEqual(db.get('log'), ['paid', 30]);
  assert.equal(db.get('count'), 2);
  assert.deepEqual(db.execute('LRANGE', 'history', 0, -1), [Buffer.from('a'), Buffer.from('b')]);
});

test('transaction rolls back when the function throws', (t) => {
  const db = fresh(t);
  db.set('balance', 100);
  let saved;
  const boom = new Error('boom');
  assert.throws(
    () =>
      db.transaction((tx) => {
        saved = tx;
        tx.set('balance', 0);
        tx.execute('RPUSH', 'history', 'x');
        tx.set('other', 'new');
        throw boom;
      }),
    (e) => e === boom,
  );
  assert.equal(db.get('balance'), 100);
  assert.equal(db.get('other'), null);
  assert.equal(db.execute('EXISTS', 'history'), 0);
  assert.equal(saved.active, false);
  assert.throws(() => saved.get('balance'), ziggydb.ClosedError, 'a tx is unusable after its function');
  // The writer lock was released: writes go on.
  db.set('after', 1);
  assert.equal(db.get('after'), 1);
});

test('a failed command in a transaction is thrown; catching it keeps the transaction', (t) => {
  const db = fresh(t);
  db.set('s', 'text');
  db.transaction((tx) => {
    tx.set('a', 1);
    assert.throws(() => tx.execute('LPUSH', 's', 'x'), (e) => e instanceof ziggydb.ReplyError && e.prefix === 'WRONGTYPE');
    assert.throws(() => tx.execute('MULTI'), ziggydb.ReplyError);
    assert.throws(() => tx.incr('s'), ziggydb.NotAnIntegerError);
    tx.set('b', 2);
  });
  assert.equal(db.get('a'), 1);
  assert.equal(db.get('b'), 2);
  assert.equal(db.get('s'), 'text');
});

test('a transaction function that returns a Promise is refused and rolled back', async (t) => {
  const db = fresh(t);
  assert.throws(
    () =>
      db.transaction(async (tx) => {
        tx.set('k', 'v');
      }),
    /must be synchronous/,
  );
  assert.equal(db.get('k'), null);
  db.set('k', 'later');
  assert.equal(db.get('k'), 'later');
});

test('a write on the db inside its own transaction is TxnActiveError, not a wait', (t) => {
  const db = fresh(t);
  assert.throws(
    () =>
      db.transaction(() => {
        db.set('k', 'v');
      }),
    ziggydb.TxnActiveError,
  );
  assert.throws(() => db.transaction(() => db.transaction(() => 1)), ziggydb.TxnActiveError);
  assert.equal(db.get('k'), null);
  assert.throws(() => db.transaction('no'), TypeError);
});
