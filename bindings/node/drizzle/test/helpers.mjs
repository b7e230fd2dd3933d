import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import { DDL } from './schema.mjs';

const CHILD = new URL('./child.mjs', import.meta.url);

/**
 * A fresh world for one test: a ZiggyDB directory, a SQLite file with the schema and the rows
 * given, and `raw`, a libsql client on that file that changes rows behind Drizzle's back.
 */
export async function world(t, seed = ['alice', 'bob']) {
  const root = mkdtempSync(join(tmpdir(), 'ziggy-drizzle-'));
  const w = {
    root,
    ziggyDir: join(root, 'cache.db'),
    sqliteFile: join(root, 'app.sqlite'),
    procs: [],
  };
  w.raw = createClient({ url: `file:${w.sqliteFile}` });
  await w.raw.execute('PRAGMA journal_mode = WAL');
  await w.raw.execute('PRAGMA busy_timeout = 30000');
  for (const stmt of DDL) await w.raw.execute(stmt);
  for (const name of seed) await w.raw.execute({ sql: 'INSERT INTO users (name) VALUES (?)', args: [name] });
  /** Starts an application process; `options` are the ZiggyCache options. */
  w.spawn = (options = { global: true }) => spawnApp(w, options);
  t.after(async () => {
    await Promise.all(w.procs.map((p) => p.stop()));
    w.raw.close();
    rmSync(root, { recursive: true, force: true });
  });
  return w;
}

async function spawnApp(w, options) {
  const child = fork(CHILD, [], {
    env: {
      ...process.env,
      ZIGGY_DIR: w.ziggyDir,
      SQLITE_FILE: w.sqliteFile,
      CACHE_OPTIONS: JSON.stringify(options),
    },
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map();
  let next = 0;
  let exited = false;
  const exitedP = new Promise((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  await new Promise((resolve, reject) => {
    child.once('message', (m) => (m.ready ? resolve() : reject(new Error(`unexpected ${JSON.stringify(m)}`))));
    child.once('exit', (code) => reject(new Error(`app process exited with ${code} before it was ready`)));
  });
  child.on('message', (m) => {
    const p = pending.get(m.seq);
    if (!p) return;
    pending.delete(m.seq);
    if (m.ok) p.resolve(m.value);
    else p.reject(new Error(`in app process ${child.pid}: ${m.error}`));
  });
  exitedP.then(() => {
    for (const p of pending.values()) p.reject(new Error(`app process ${child.pid} exited`));
    pending.clear();
  });
  const app = {
    pid: child.pid,
    /** Runs one operation of child.mjs in this process. */
    call(op, args = {}) {
      const seq = next++;
      return new Promise((resolve, reject) => {
        pending.set(seq, { resolve, reject });
        child.send({ seq, op, args });
      });
    },
    async stop() {
      if (exited) return;
      child.send({ seq: -1, op: 'exit', args: {} });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitedP;
      clearTimeout(timer);
    },
  };
  w.procs.push(app);
  return app;
}

/** Names of the users rows, in order. */
export const names = (rows) => rows.map((r) => r.name);

/** Polls `fn` until it returns true, for at most `ms` (generous: CI machines are loaded). */
export async function eventually(fn, ms = 30_000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
