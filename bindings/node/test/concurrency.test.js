'use strict';
// Worker threads and OS processes incrementing one counter: every increment lands once.
// The children are this file run again with ZIGGYDB_TEST_ROLE set.
const { isMainThread, parentPort, workerData, Worker } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const ziggydb = require('..');

const role = process.env.ZIGGYDB_TEST_ROLE;

if (!isMainThread) {
  // A worker thread: its own handle on the directory, sync and async increments.
  const { dir, n, start } = workerData;
  const db = ziggydb.open(dir);
  const view = new Int32Array(start);
  Atomics.add(view, 0, 1);
  while (Atomics.load(view, 1) === 0) Atomics.wait(view, 1, 0, 50); // all at once
  (async () => {
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) db.incr('counter');
      else await db.async.incr('counter');
    }
    db.transaction((tx) => tx.execute('RPUSH', 'done', `worker:${workerData.id}`));
    db.close();
    parentPort.postMessage('ok');
  })().catch((e) => {
    parentPort.postMessage(`error: ${e.stack}`);
  });
} else if (role === 'incr') {
  // A child process: N increments as fast as it can, then one transaction.
  const db = ziggydb.open(process.env.ZIGGYDB_TEST_DIR);
  const n = Number(process.env.ZIGGYDB_TEST_N);
  for (let i = 0; i < n; i++) db.incr('counter');
  db.transaction((tx) => {
    const seen = tx.get('seen') ?? 0;
    tx.set('seen', seen + 1); // a read-modify-write: exact only if transactions serialise
  });
  db.close();
  process.stdout.write('ok\n');
} else if (role === 'hold') {
  // A child process that holds the writer lock (inside a transaction) until its stdin closes.
  const fs = require('node:fs');
  const db = ziggydb.open(process.env.ZIGGYDB_TEST_DIR);
  db.transaction((tx) => {
    tx.set('held', 'by the child');
    process.stdout.write('locked\n');
    const buf = Buffer.alloc(1);
    while (fs.readSync(0, buf) > 0); // blocks this thread, lock held, until EOF
  });
  db.close();
} else if (role === 'readonly') {
  // A child process that opens the database read-only and tries to write.
  const db = ziggydb.open(process.env.ZIGGYDB_TEST_DIR, { readOnly: true });
  const seen = db.get('k');
  try {
    db.set('k', 'changed');
    process.stdout.write('wrote\n');
  } catch (e) {
    process.stdout.write(`${seen} ${e.name} ${e.code} ${e.errno} ${e.message}\n`);
  }
  db.close();
} else {
  const test = require('node:test');
  const assert = require('node:assert/strict');
  const { tempDir } = require('./helpers');

  test('worker threads increment one counter exactly', async (t) => {
    const dir = tempDir(t);
    const db = ziggydb.open(dir);
    t.after(() => db.close());
    const workers = 4;
    const n = 300;
    const start = new SharedArrayBuffer(8);
    const results = await Promise.all(
      Array.from({ length: workers }, (_, id) => {
        const w = new Worker(__filename, { workerData: { dir, n, start, id } });
        if (id === workers - 1) {
          // Let them go once all have opened the database.
          const view = new Int32Array(start);
          const go = () => {
            if (Atomics.load(view, 0) < workers) return setTimeout(go, 5);
            Atomics.store(view, 1, 1);
            Atomics.notify(view, 1);
          };
          go();
        }
        return new Promise((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        });
      }),
    );
    assert.deepEqual(results, Array(workers).fill('ok'));
    assert.equal(db.get('counter'), workers * n);
    assert.equal(db.execute('LLEN', 'done'), workers);
  });

  test('8 processes × 500 incr: the total is exact', async (t) => {
    const dir = tempDir(t);
    const procs = 8;
    const n = 500;
    const codes = await Promise.all(
      Array.from({ length: procs }, () => {
        const child = spawn(process.execPath, [__filename], {
          env: { ...process.env, ZIGGYDB_TEST_ROLE: 'incr', ZIGGYDB_TEST_DIR: dir, ZIGGYDB_TEST_N: String(n) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        return new Promise((resolve) => child.on('close', (code) => resolve(`${code} ${out.trim()}`)));
      }),
    );
    assert.deepEqual(codes, Array(procs).fill('0 ok'));
    const db = ziggydb.open(dir);
    t.after(() => db.close());
    assert.equal(db.get('counter'), procs * n);
    assert.equal(db.get('seen'), procs);
  });

  test('a writer that waits longer than lockTimeoutMs for another process gets BusyError', async (t) => {
    const dir = tempDir(t);
    ziggydb.open(dir).close();
    const child = spawn(process.execPath, [__filename], {
      env: { ...process.env, ZIGGYDB_TEST_ROLE: 'hold', ZIGGYDB_TEST_DIR: dir },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.on('close', resolve));
    t.after(() => child.stdin.end());
    await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('locked')) resolve();
      });
      child.on('close', () => reject(new Error('the child ended before taking the lock')));
    });
    // The lock is held until we close the child's stdin: no race with the timeout.
    const db = ziggydb.open(dir, { lockTimeoutMs: 200 });
    assert.throws(
      () => db.set('k', 'v'),
      (e) => e instanceof ziggydb.BusyError && e.code === 'BUSY' && e.errno === 60 && /busy/.test(e.message) && /writer\.lock/.test(e.message),
    );
    await assert.rejects(db.async.set('k', 'v'), ziggydb.BusyError);
    await assert.rejects(db.async.transaction(() => {}), ziggydb.BusyError);
    assert.equal(db.get('held'), null, 'the child has not committed');
    // Reads never wait for the writer.
    assert.equal(db.get('k'), null);
    child.stdin.end();
    assert.equal(await exited, 0);
    assert.equal(db.get('held'), 'by the child');
    db.set('k', 'v'); // and the lock is free again
    db.close();
  });

  test('a read-only open refuses writes with ReadOnlyError', async (t) => {
    const dir = tempDir(t);
    const db = ziggydb.open(dir);
    db.set('k', 'original');
    db.close();
    const child = spawn(process.execPath, [__filename], {
      env: { ...process.env, ZIGGYDB_TEST_ROLE: 'readonly', ZIGGYDB_TEST_DIR: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    assert.equal(await new Promise((resolve) => child.on('close', resolve)), 0);
    assert.equal(out, 'original ReadOnlyError READ_ONLY 62 database opened read-only\n');
  });
}
