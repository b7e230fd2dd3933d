'use strict';
// db.async: the same calls as Promises run on the libuv thread pool.
const test = require('node:test');
const assert = require('node:assert/strict');
const ziggydb = require('..');
const { tempDir } = require('./helpers');

function fresh(t, opts) {
  const db = ziggydb.open(tempDir(t), opts);
  t.after(() => db.close());
  return db;
}

test('async get, set, delete, incr, execute, sync', async (t) => {
  const db = fresh(t);
  const p = db.async.set('k', { a: 1 });
  assert.ok(p instanceof Promise);
  assert.equal(await p, undefined);
  assert.deepEqual(await db.async.get('k'), { a: 1 });
  assert.equal(await db.async.get('missing'), null);
  await db.async.set('bytes', Buffer.from([0, 1, 0]));
  assert.deepEqual(await db.async.get('bytes'), Buffer.from([0, 1, 0]));
  await db.async.set('when', new Date(1767225600123));
  assert.equal((await db.async.get('when')).getTime(), 1767225600123);
  await db.async.set('big', 2n ** 62n);
  assert.equal(await db.async.get('big'), 2n ** 62n);
  assert.equal(await db.async.incr('n'), 1);
  assert.equal(await db.async.incr('n', 9), 10);
  assert.equal(await db.async.incr('big'), 2n ** 62n + 1n);
  assert.equal(await db.async.delete('k'), true);
  assert.equal(await db.async.delete('k'), false);
  assert.equal(await db.async.execute('RPUSH', 'l', 'a', 'b'), 2);
  assert.deepEqual(await db.async.execute('LRANGE', 'l', 0, -1), [Buffer.from('a'), Buffer.from('b')]);
  await db.async.execute('HSET', 'h', 'f', 'v');
  assert.deepEqual(await db.async.execute('HGETALL', 'h'), { f: Buffer.from('v') });
  await db.async.set('ttl', 'v', { px: 60_000 });
  assert.ok(db.execute('PTTL', 'ttl') > 50_000);
  assert.equal(await db.async.sync(), undefined);
  // Many at once: every one lands.
  await Promise.all(Array.from({ length: 50 }, (_, i) => db.async.set(`many:${i}`, i)));
  for (let i = 0; i < 50; i++) assert.equal(db.get(`many:${i}`), i);
});

test('async calls do not run on the calling thread', async (t) => {
  const db = fresh(t);
  // The promise settles only after this synchronous code and the current turn finish: the
  // call was handed to the thread pool, not done here.
  let turnEnded = false;
  const p = db.async.set('k', 'v').then(() => turnEnded);
  setImmediate(() => {
    turnEnded = true;
  });
  assert.equal(await p, true);
  assert.equal(db.get('k'), 'v');
});

test('async errors reject with ZiggyError subclasses', async (t) => {
  const db = fresh(t);
  db.set('s', 'text');
  await assert.rejects(db.async.incr('s'), (e) => e instanceof ziggydb.NotAnIntegerError && e.code === 'NOT_AN_INTEGER');
  await assert.rejects(db.async.execute('LPUSH', 's', 'x'), (e) => e instanceof ziggydb.ReplyError && e.prefix === 'WRONGTYPE');
  await assert.rejects(db.async.set('j', '{', { type: 'json' }), ziggydb.InvalidJsonError);
  await assert.rejects(db.async.set('k', undefined), TypeError);
  db.execute('RPUSH', 'l', 'a');
  await assert.rejects(db.async.get('l'), ziggydb.WrongTypeError);
  const other = ziggydb.open(tempDir(t));
  other.close();
  await assert.rejects(other.async.get('k'), ziggydb.ClosedError);
});

test('async transaction commits, rolls back, and refuses async functions', async (t) => {
  const db = fresh(t);
  const r = await db.async.transaction((tx) => {
    tx.set('a', 1);
    tx.execute('RPUSH', 'l', 'x');
    return tx.incr('a');
  });
  assert.equal(r, 2);
  assert.equal(db.get('a'), 2);
  await assert.rejects(
    db.async.transaction((tx) => {
      tx.set('a', 100);
      throw new Error('no');
    }),
    /no/,
  );
  assert.equal(db.get('a'), 2);
  await assert.rejects(db.async.transaction(async () => {}), /must be synchronous/);
  // The lock is free again, for sync and async writers.
  db.set('b', 1);
  await db.async.set('c', 1);
  assert.equal(db.get('c'), 1);
});

test('an async write waits for a sync transaction instead of failing', async (t) => {
  const db = fresh(t);
  let pending;
  db.transaction((tx) => {
    tx.set('k', 'from tx');
    pending = db.async.set('k', 'after tx'); // waits on the pool for the writer lock
  });
  await pending;
  assert.equal(db.get('k'), 'after tx');
});

test('durability batched: writes are visible at once; sync makes them durable', async (t) => {
  const db = fresh(t, { durability: 'batched', batchDelayMs: 20 });
  db.set('k', 'v');
  assert.equal(db.get('k'), 'v');
  db.sync();
  await db.async.sync();
});

test('a sync write while an async transaction waits for its turn is TxnActiveError, not a hang', async (t) => {
  const db = fresh(t, { lockTimeoutMs: 60_000 });
  const p = db.async.transaction((tx) => {
    tx.set('a', 1);
    return 'ok';
  });
  // Once the pool has the writer lock, the function can only run when this thread is free:
  // a sync write now would wait for itself. It is refused at once instead.
  assert.throws(() => db.set('b', 1), ziggydb.TxnActiveError);
  assert.throws(() => db.transaction(() => {}), ziggydb.TxnActiveError);
  assert.equal(db.get('b'), null, 'reads go on');
  assert.equal(await p, 'ok');
  db.set('b', 2); // free again once it committed
  assert.equal(db.get('a'), 1);
  // A failed body frees the thread too.
  await assert.rejects(db.async.transaction(() => {
    throw new Error('body failed');
  }), /body failed/);
  db.set('c', 3);
  assert.equal(db.get('c'), 3);
});

test('a blocking pop answers at once on the event loop and waits through db.async', async (t) => {
  const db = fresh(t);
  const started = Date.now();
  // Synchronous: nothing to pop is a nil at once, even with no timeout (0 = forever).
  assert.equal(db.execute('BLPOP', 'jobs', 0), null);
  assert.ok(Date.now() - started < 5000);
  // Asynchronous: it waits on the thread pool while the event loop pushes through another
  // handle on the directory (as another process would).
  const other = ziggydb.open(db.path);
  t.after(() => other.close());
  const waiting = db.async.execute('BLPOP', 'jobs', 30);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(other.execute('RPUSH', 'jobs', 'j1'), 1);
  assert.deepEqual(await waiting, [Buffer.from('jobs'), Buffer.from('j1')]);
  assert.equal(other.execute('LLEN', 'jobs'), 0);
});
