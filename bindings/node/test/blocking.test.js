'use strict';
// Blocking commands through db.async.execute: they wait off the event loop (on threads of
// their own, not the libuv pool), wake when another process pushes, and end on an
// AbortSignal or when the db closes. The pushers in other processes are this file run again
// with ZIGGYDB_TEST_ROLE set.
const ziggydb = require('..');

const role = process.env.ZIGGYDB_TEST_ROLE;

if (role === 'push') {
  // A child process: runs the command of its arguments once, prints the reply.
  const db = ziggydb.open(process.env.ZIGGYDB_TEST_DIR);
  const reply = db.execute(...process.argv.slice(2));
  db.close();
  process.stdout.write(`${reply}\n`);
} else {
  const test = require('node:test');
  const assert = require('node:assert/strict');
  const fs = require('node:fs');
  const { once } = require('node:events');
  const { Worker } = require('node:worker_threads');
  const { spawn } = require('node:child_process');
  const { tempDir } = require('./helpers');

  const fresh = (t) => {
    const db = ziggydb.open(tempDir(t));
    t.after(() => db.close());
    return db;
  };

  /** Runs one command in a new node process on `dir`; its printed reply. */
  const runIn = (dir, ...args) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [__filename, ...args], {
        env: { ...process.env, ZIGGYDB_TEST_ROLE: 'push', ZIGGYDB_TEST_DIR: dir },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`child exited ${code}`))));
    });

  /** Whether `promise` has settled by the time the event loop has turned a few times. */
  const settledYet = async (promise) => {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    return settled;
  };

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  test('a blocking pop is woken by a push from another process, the event loop running meanwhile', async (t) => {
    const db = fresh(t);
    const pop = db.async.execute('BLPOP', 'empty', 'jobs', 0); // 0: no timeout
    // A timer fires while the pop waits: the wait is not on this thread.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    while (ticks < 3) await sleep(5);
    clearInterval(timer);
    assert.equal(await settledYet(pop), false);
    assert.equal(await runIn(db.path, 'RPUSH', 'jobs', 'j1', 'j2'), '2');
    assert.deepEqual(await pop, [Buffer.from('jobs'), Buffer.from('j1')]);
    assert.equal(db.execute('LLEN', 'jobs'), 1); // exactly one element taken
    // The other blocking commands, in Redis's reply shapes.
    const zpop = db.async.execute('BZPOPMIN', 'board', 0);
    assert.equal(await runIn(db.path, 'ZADD', 'board', '2', 'b', '1', 'a'), '2');
    assert.deepEqual(await zpop, [Buffer.from('board'), Buffer.from('a'), 1]);
    const move = db.async.execute('BLMOVE', 'src', 'dst', 'LEFT', 'RIGHT', 0);
    assert.equal(await runIn(db.path, 'RPUSH', 'src', 'm'), '1');
    assert.deepEqual(await move, Buffer.from('m'));
    assert.deepEqual(db.execute('LRANGE', 'dst', 0, -1), [Buffer.from('m')]);
    // A timeout passes as in Redis: null.
    assert.equal(await db.async.execute('BRPOP', 'nothing', 0.05), null);
  });

  test('an AbortSignal ends the wait with an AbortError, and no element is taken', async (t) => {
    const db = fresh(t);
    const ac = new AbortController();
    const pop = db.async.execute('BLPOP', 'q', 0, { signal: ac.signal });
    await sleep(20);
    assert.equal(await settledYet(pop), false);
    const reason = new Error('shutting down');
    ac.abort(reason);
    await assert.rejects(pop, (e) => e instanceof ziggydb.AbortError && e.name === 'AbortError' && e.code === 'ABORT_ERR' && e.cause === reason);
    // The cancelled waiter is gone: an element pushed now stays in the list.
    assert.equal(await runIn(db.path, 'RPUSH', 'q', 'kept'), '1');
    await sleep(50);
    assert.deepEqual(db.execute('LRANGE', 'q', 0, -1), [Buffer.from('kept')]);
    // A signal aborted already: rejected at once, the element still there.
    await assert.rejects(db.async.execute('BLPOP', 'q', 0, { signal: AbortSignal.abort() }), ziggydb.AbortError);
    assert.equal(db.execute('LLEN', 'q'), 1);
    // A signal that never fires changes nothing; the listener is removed afterwards.
    const quiet = new AbortController();
    assert.deepEqual(await db.async.execute('BLPOP', 'q', 0, { signal: quiet.signal }), [Buffer.from('q'), Buffer.from('kept')]);
    quiet.abort();
    // AbortSignal.timeout, as fetch takes it.
    await assert.rejects(db.async.execute('BZPOPMAX', 'z', 0, { signal: AbortSignal.timeout(30) }), ziggydb.AbortError);
    // A non-blocking command takes the option too.
    assert.equal(await db.async.execute('RPUSH', 'q', 'x', { signal: new AbortController().signal }), 1);
    await assert.rejects(db.async.execute('GET', 'k', { signal: 'no' }), TypeError);
  });

  test('closing the db ends its waits with ClosedError', async (t) => {
    const dir = tempDir(t);
    const db = ziggydb.open(dir);
    const pops = [db.async.execute('BLPOP', 'a', 0), db.async.execute('BZPOPMIN', 'b', 0)];
    await sleep(20);
    db.close();
    await Promise.all(pops.map((p) => assert.rejects(p, (e) => e instanceof ziggydb.ClosedError && e.code === 'CLOSED')));
    await assert.rejects(db.async.execute('BLPOP', 'a', 0), ziggydb.ClosedError);
    // Nothing is left waiting: a push stays.
    const other = ziggydb.open(dir);
    t.after(() => other.close());
    other.execute('RPUSH', 'a', 'x');
    await sleep(50);
    assert.equal(other.execute('LLEN', 'a'), 1);
  });

  test('many waiting pops do not hold the libuv thread pool', async (t) => {
    const db = fresh(t);
    // More waits than the pool has threads (4 by default, UV_THREADPOOL_SIZE).
    const n = Number(process.env.UV_THREADPOOL_SIZE || 4) + 4;
    const pops = Array.from({ length: n }, (_, i) => db.async.execute('BLPOP', `q${i}`, 0));
    await sleep(20);
    // Pool work still runs: file reads and the binding's own async calls.
    assert.ok((await fs.promises.readFile(__filename)).length > 0);
    await db.async.set('k', 'v');
    // The waits do not hold the handle: a synchronous call on it runs meanwhile.
    assert.equal(db.execute('RPUSH', 'q0', 'a'), 1);
    for (let i = 1; i < n; i++) await db.async.execute('RPUSH', `q${i}`, 'a');
    const got = await Promise.all(pops);
    assert.deepEqual(got.map((r) => r[0].toString()), Array.from({ length: n }, (_, i) => `q${i}`));
  });

  for (const what of ['pop', 'subscriber']) {
    test(`a handle referenced only by its pending ${what} stays open through GC`, async (t) => {
      require('node:v8').setFlagsFromString('--expose-gc');
      const gc = require('node:vm').runInNewContext('gc');
      const dir = tempDir(t);
      let held;
      (() => {
        const db = ziggydb.open(dir);
        held = what === 'pop' ? db.async.execute('BLPOP', 'q', 0) : db.pubsub();
      })();
      if (what === 'subscriber') assert.equal(await held.subscribe('c'), 1);
      for (let i = 0; i < 5; i++) {
        gc();
        await sleep(10);
      }
      const other = ziggydb.open(dir);
      t.after(() => other.close());
      if (what === 'pop') {
        other.execute('RPUSH', 'q', 'x');
        assert.deepEqual(await held, [Buffer.from('q'), Buffer.from('x')]);
      } else {
        const m = once(held, 'message');
        assert.equal(other.publish('c', 'm'), 1);
        assert.deepEqual(await m, ['c', 'm']);
        await held.close();
      }
    });
  }

  test('a worker thread ended while it waits leaves no waiter and no subscription behind', async (t) => {
    const db = fresh(t);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const z = require(workerData.index);
       const db = z.open(workerData.dir);
       db.async.execute('BLPOP', 'q', 0).catch(() => {});
       const sub = db.pubsub();
       sub.subscribe('c').then(() => parentPort.postMessage('ready'));`,
      { eval: true, workerData: { dir: db.path, index: require.resolve('..') } },
    );
    assert.equal((await once(worker, 'message'))[0], 'ready');
    assert.equal(db.publish('c', 'x'), 1);
    await worker.terminate();
    // Its subscriber's thread ends and unsubscribes (a dead process's would be dropped too).
    const deadline = Date.now() + 30_000;
    while (db.publish('c', 'y') !== 0) {
      assert.ok(Date.now() < deadline, 'the ended worker is still subscribed');
      await sleep(10);
    }
    // Its BLPOP no longer waits: an element pushed now stays.
    await sleep(100);
    db.execute('RPUSH', 'q', 'kept');
    await sleep(100);
    assert.equal(db.execute('LLEN', 'q'), 1);
  });

  test('a blocking command through the synchronous execute answers at once', (t) => {
    const db = fresh(t);
    const started = Date.now();
    assert.equal(db.execute('BLPOP', 'nothing', 0), null);
    assert.equal(db.execute('BZPOPMIN', 'nothing', 0), null);
    db.execute('RPUSH', 'l', 'a');
    assert.deepEqual(db.execute('BLPOP', 'l', 0), [Buffer.from('l'), Buffer.from('a')]);
    assert.ok(Date.now() - started < 10_000);
  });
}
