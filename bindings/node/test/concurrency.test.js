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
}
