// Drizzle selects over libsql (a SQLite file): uncached, served by ZiggyCache, and served by
// the same cache logic (same key layout, same codec, put and onMutate as Lua scripts so they
// are atomic as ZiggyDB's transactions are) on a local redis-server through ioredis.
//
//   node bench.js [--quick]   (bench.js only loads this module)
//
// It starts its own redis-server on a free loopback port and stops it at the end, also on a
// failure or Ctrl-C. Figures are the best of several rounds, in microseconds per select.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createClient } from '@libsql/client';
import { drizzle } from 'drizzle-orm/libsql';
import { Cache, hashQuery } from 'drizzle-orm/cache/core';
import { count, entityKind, eq, is, sum, Table, OriginalName } from 'drizzle-orm';
import { sqliteTable, integer, text } from 'drizzle-orm/sqlite-core';
import Redis from 'ioredis';
import { ZiggyCache } from 'ziggydb/drizzle';

const require = createRequire(import.meta.url);
const { encode, decode } = require('./codec.cjs');
const { expiryArgs } = require('./core.cjs');

const quick = process.argv.includes('--quick');
// a full collection before each timed run, so no task pays for the garbage of the one before
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const ROUNDS = quick ? 3 : 9;
const ITERS = quick ? 1500 : 10000;
const MUT_ITERS = quick ? 150 : 1000;

const users = sqliteTable('users', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
  email: text('email').notNull(),
});

const events = sqliteTable('events', {
  id: integer('id').primaryKey(),
  userId: integer('user_id').notNull(),
  amount: integer('amount').notNull(),
});

const PUT = `
local entry, payload, auto = KEYS[1], ARGV[1], ARGV[2]
if ARGV[3] == 'KEEPTTL' then redis.call('SET', entry, payload, 'KEEPTTL')
else redis.call('SET', entry, payload, ARGV[3], ARGV[4]) end
if auto == '1' then
  local composite = KEYS[2]
  redis.call('SADD', composite, entry)
  for i = 3, #KEYS do redis.call('SADD', KEYS[i], composite) end
end`;

const MUTATE = `
local doomed = {}
local ntags = tonumber(ARGV[1])
for i = 1, ntags do doomed[#doomed + 1] = KEYS[i] end
if #KEYS > ntags then
  local sets = {}
  for i = ntags + 1, #KEYS do sets[#sets + 1] = KEYS[i] end
  for _, c in ipairs(redis.call('SUNION', unpack(sets))) do
    doomed[#doomed + 1] = c
    for _, m in ipairs(redis.call('SMEMBERS', c)) do doomed[#doomed + 1] = m end
  end
  for _, s in ipairs(sets) do doomed[#doomed + 1] = s end
end
if #doomed > 0 then redis.call('DEL', unpack(doomed)) end`;

/** ZiggyCache's logic on Redis: the comparison the figures are for, not a shipped cache. */
class RedisCache extends Cache {
  static [entityKind] = 'BenchRedisCache';
  constructor(redis, config) {
    super();
    this.redis = redis;
    this.config = config;
    this.prefix = 'drizzle:';
    this.onMutate = this.onMutate.bind(this);
    redis.defineCommand('zcPut', { lua: PUT });
    redis.defineCommand('zcMutate', { lua: MUTATE });
  }
  strategy() {
    return 'all';
  }
  composite(tables) {
    return `${this.prefix}__CT__${[...tables].sort().join(',')}`;
  }
  entry(key, tables, isTag, auto) {
    if (isTag) return `${this.prefix}__tagsMap__\u0000${key}`;
    if (!auto) return `${this.prefix}__nonAutoInvalidate__\u0000${key}`;
    return `${this.composite(tables)}\u0000${key}`;
  }
  async get(key, tables, isTag = false, auto) {
    const raw = await this.redis.getBuffer(this.entry(key, tables, isTag, auto));
    return raw === null ? undefined : decode(raw);
  }
  async put(key, response, tables, isTag = false, config) {
    const auto = tables.length !== 0;
    const { set } = expiryArgs(config, this.config);
    const keys = [this.entry(key, tables, isTag, auto)];
    if (auto) keys.push(this.composite(tables), ...tables.map((t) => `${this.prefix}__CTS__${t}`));
    await this.redis.zcPut(keys.length, ...keys, encode(response), auto ? '1' : '0', ...set);
  }
  async onMutate(params) {
    const arr = (x) => (Array.isArray(x) ? x : x ? [x] : []);
    const tags = arr(params.tags).filter((t) => t).map((t) => `${this.prefix}__tagsMap__\u0000${t}`);
    const tables = arr(params.tables).map((t) => (is(t, Table) ? t[OriginalName] : t));
    const keys = [...tags, ...tables.map((t) => `${this.prefix}__CTS__${t}`)];
    if (keys.length > 0) await this.redis.zcMutate(keys.length, ...keys, String(tags.length));
  }
}

function hasRedis() {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(dir) {
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const stop = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  };
  process.on('exit', stop);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      stop();
      process.exit(130);
    });
  }
  let exited = null;
  proc.once('error', (e) => (exited = e));
  proc.once('exit', (code) => (exited = exited ?? new Error(`redis-server exited with ${code}`)));
  const deadline = Date.now() + 15_000;
  // wait until it accepts connections, then connect once
  for (;;) {
    if (exited) throw exited;
    const up = await new Promise((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
  await redis.ping();
  return { redis, stop, port };
}

/** Runs every task once per round, interleaved, so load from elsewhere hits them alike. */
async function measure(tasks) {
  const best = new Map(tasks.map((t) => [t, Infinity]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of tasks) {
      gc();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < t.iters; i++) await t.fn(i);
      const us = Number(process.hrtime.bigint() - t0) / 1000 / t.iters;
      best.set(t, Math.min(best.get(t), us));
    }
  }
  const out = {};
  for (const t of tasks) {
    out[t.variant] ??= {};
    out[t.variant][t.metric] = best.get(t);
  }
  return out;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'ziggy-drizzle-bench-'));
  let redisHandle;
  const closers = [];
  try {
    const file = join(dir, 'app.sqlite');
    const setup = createClient({ url: `file:${file}` });
    await setup.execute('PRAGMA journal_mode = WAL');
    await setup.execute('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)');
    await setup.batch(
      Array.from({ length: 100 }, (_, i) => ({
        sql: 'INSERT INTO users (id, name, email) VALUES (?, ?, ?)',
        args: [i + 1, `user ${i + 1}`, `user${i + 1}@example.com`],
      })),
    );
    await setup.execute('CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, amount INTEGER NOT NULL)');
    await setup.execute(
      'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) ' +
        'INSERT INTO events (id, user_id, amount) SELECT i, i % 100 + 1, i % 997 FROM n',
    );
    setup.close();

    const config = { ex: 600 };
    const ziggy = new ZiggyCache(join(dir, 'cache.db'), { global: true, config });
    closers.push(() => ziggy.close());
    const variants = [
      ['uncached', undefined],
      ['ZiggyCache', ziggy],
    ];
    if (hasRedis()) {
      redisHandle = await startRedis(dir);
      variants.push(['same logic on redis', new RedisCache(redisHandle.redis, config)]);
    } else {
      console.log('redis-server is not installed: no redis column (apt-get install redis-server)');
    }
    const tasks = [];
    for (const [variant, cache] of variants) {
      const client = createClient({ url: `file:${file}` });
      closers.push(() => client.close());
      const db = drizzle({ client, cache });
      const one = (i) => db.select().from(users).where(eq(users.id, (i % 100) + 1));
      const all = () => db.select().from(users);
      // warm: every query cached once
      for (let i = 0; i < 100; i++) await one(i);
      await all();
      const check = await all();
      if (check.length !== 100 || check[99].email !== 'user100@example.com') {
        throw new Error(`${variant}: wrong rows ${JSON.stringify(check.slice(-1))}`);
      }
      const task = (metric, iters, fn) => tasks.push({ variant, metric, iters, fn });
      if (cache) {
        // the cache's own calls, without Drizzle: a hit on the 100-row response, and a put,
        // under tables of their own that the updates below do not invalidate
        const q = all().toSQL();
        const response = await cache.get(await hashQuery(q.sql, q.params), ['users'], false, true);
        if (!response || response.length !== 100) throw new Error(`${variant}: no cached response`);
        await cache.put('bench-get', response, ['bench_get'], false);
        task('get', ITERS, async () => {
          if ((await cache.get('bench-get', ['bench_get'], false, true)) === undefined) {
            throw new Error(`${variant}: the response to get is gone`);
          }
        });
        task('put', Math.ceil(ITERS / 5), (i) => cache.put(`bench${i % 50}`, response, ['bench_put'], false));
      } else {
        // the floor of any cached select: Drizzle hashes every query (SHA-256 through
        // crypto.subtle, a trip to the thread pool) before it asks the cache
        const q = all().toSQL();
        task('hash', ITERS, () => hashQuery(q.sql, q.params));
      }
      // a query that costs the database some work: 20,000 rows grouped into 100
      const report = () =>
        db
          .select({ userId: events.userId, n: count(), total: sum(events.amount) })
          .from(events)
          .groupBy(events.userId);
      const r0 = await report();
      if (r0.length !== 100 || (await report())[0].n !== 200) throw new Error(`${variant}: wrong report`);
      task('group', Math.ceil(ITERS / 20), report);
      task('one', ITERS, one);
      task('all', Math.ceil(ITERS / 5), all);
      // a write through Drizzle (invalidating users) then the select, a miss that is put
      task('mutate', MUT_ITERS, async (i) => {
        await db.update(users).set({ name: `user ${(i % 100) + 1}` }).where(eq(users.id, (i % 100) + 1));
        await all();
      });
    }
    const results = await measure(tasks);

    const rows = [
      ['select 1 row by id', 'one'],
      ['select 100 rows', 'all'],
      ['group 20,000 rows into 100', 'group'],
      ['update + select 100 rows (miss, put)', 'mutate'],
    ];
    const fmt = (x) => x.toFixed(1).padStart(8);
    console.log(`drizzle-orm select over libsql, best of ${ROUNDS} rounds, µs per call${quick ? ' (--quick)' : ''}`);
    console.log('| query | uncached | ZiggyCache | redis (ioredis) | uncached ÷ Ziggy | redis ÷ Ziggy |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const redis = results['same logic on redis'];
    const rcol = (k, z) => (redis ? [fmt(redis[k]), (redis[k] / z).toFixed(2)] : ['—', '—']);
    for (const [label, k] of rows) {
      const u = results.uncached[k];
      const z = results.ZiggyCache[k];
      const [r, ratio] = rcol(k, z);
      console.log(`| ${label} | ${fmt(u)} | ${fmt(z)} | ${r} | ${(u / z).toFixed(2)} | ${ratio} |`);
    }
    console.log(`| Drizzle's hashQuery alone | — | ${fmt(results.uncached.hash)} | — | — | — |`);
    for (const [label, k] of [
      ['cache.get, hit, 100 rows', 'get'],
      ['cache.put, 100 rows', 'put'],
    ]) {
      const z = results.ZiggyCache[k];
      const [r, ratio] = rcol(k, z);
      console.log(`| ${label} | — | ${fmt(z)} | ${r} | — | ${ratio} |`);
    }
  } finally {
    for (const c of closers.reverse()) {
      try {
        c();
      } catch {
        // already closed
      }
    }
    if (redisHandle) {
      redisHandle.redis.disconnect();
      redisHandle.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
