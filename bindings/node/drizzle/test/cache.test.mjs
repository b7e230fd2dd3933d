// ZiggyCache under a real Drizzle (drizzle-orm/libsql) on one SQLite file shared by several
// Node processes, with the cache in one ZiggyDB directory they all open.
//
// A hit is proved by changing a row behind Drizzle's back (a plain libsql client, which Drizzle
// and its cache never hear of): a select still answering the old rows came from the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { world, names, eventually } from './helpers.mjs';

const LONG = { global: true, config: { ex: 600 } };

async function renameBehindDrizzle(w, id, name) {
  await w.raw.execute({ sql: 'UPDATE users SET name = ? WHERE id = ?', args: [name, id] });
}

test('a repeated select is served from the cache, in this process and in another', async (t) => {
  const w = await world(t);
  const [a, b] = await Promise.all([w.spawn(LONG), w.spawn(LONG)]);
  assert.deepEqual(names(await a.call('users')), ['alice', 'bob']);
  await renameBehindDrizzle(w, 1, 'ALICE');
  // the database has changed, the cached rows have not
  assert.deepEqual(names(await a.call('users')), ['alice', 'bob']);
  assert.deepEqual(names(await b.call('users')), ['alice', 'bob']);
  // a query the cache has not seen reads the database
  assert.deepEqual(names(await b.call('user', { id: 1 })), ['ALICE']);
  // the response is stored under Drizzle's query hash, in the set of its table
  const members = await a.call('exec', { args: ['SMEMBERS', 'drizzle:__CT__users'] });
  assert.equal(members.length, 2);
  for (const m of members) assert.match(m, /^drizzle:__CT__users\u0000[0-9a-f]{64}$/);
  assert.deepEqual(await a.call('exec', { args: ['SMEMBERS', 'drizzle:__CTS__users'] }), [
    'drizzle:__CT__users',
  ]);
});

test('an insert, update or delete through Drizzle in one process refreshes the next select in another', async (t) => {
  const w = await world(t);
  const [a, b, c] = await Promise.all([w.spawn(LONG), w.spawn(LONG), w.spawn(LONG)]);
  assert.deepEqual(names(await a.call('users')), ['alice', 'bob']);
  assert.deepEqual(names(await c.call('users')), ['alice', 'bob']);

  await b.call('insertUser', { name: 'carol' });
  assert.deepEqual(names(await a.call('users')), ['alice', 'bob', 'carol']);
  assert.deepEqual(names(await c.call('users')), ['alice', 'bob', 'carol']);

  await b.call('renameUser', { id: 2, name: 'robert' });
  assert.deepEqual(names(await c.call('users')), ['alice', 'robert', 'carol']);

  await a.call('deleteUser', { id: 1 });
  assert.deepEqual(names(await b.call('users')), ['robert', 'carol']);
  assert.deepEqual(names(await c.call('users')), ['robert', 'carol']);

  // and in between, the refreshed rows are cached again
  await renameBehindDrizzle(w, 3, 'CAROL');
  assert.deepEqual(names(await a.call('users')), ['robert', 'carol']);
});

test('a select of two tables is invalidated by a write to either', async (t) => {
  const w = await world(t);
  const [a, b] = await Promise.all([w.spawn(LONG), w.spawn(LONG)]);
  await a.call('insertPost', { userId: 1, title: 'first' });
  const rows = await a.call('usersWithPosts');
  assert.deepEqual(rows, [{ name: 'alice', title: 'first' }]);
  await renameBehindDrizzle(w, 1, 'ALICE');
  assert.deepEqual(await b.call('usersWithPosts'), [{ name: 'alice', title: 'first' }]);
  // a write to posts
  await b.call('insertPost', { userId: 2, title: 'second' });
  assert.deepEqual(await a.call('usersWithPosts'), [
    { name: 'ALICE', title: 'first' },
    { name: 'bob', title: 'second' },
  ]);
  // a write to users
  await renameBehindDrizzle(w, 2, 'BOB');
  assert.equal((await a.call('usersWithPosts'))[1].name, 'bob', 'cached again');
  await b.call('renameUser', { id: 1, name: 'ada' });
  assert.deepEqual(await a.call('usersWithPosts'), [
    { name: 'ada', title: 'first' },
    { name: 'BOB', title: 'second' },
  ]);
});

test('explicit mode caches only queries that ask with $withCache()', async (t) => {
  const w = await world(t);
  const explicit = { global: false, config: { ex: 600 } };
  const [a, b] = await Promise.all([w.spawn(explicit), w.spawn(explicit)]);
  assert.deepEqual(names(await a.call('users')), ['alice', 'bob']);
  assert.deepEqual(names(await a.call('users', { withCache: true })), ['alice', 'bob']);
  await renameBehindDrizzle(w, 1, 'ALICE');
  // without $withCache() the database answers, with it the cache does, in either process
  assert.deepEqual(names(await a.call('users')), ['ALICE', 'bob']);
  assert.deepEqual(names(await b.call('users')), ['ALICE', 'bob']);
  assert.deepEqual(names(await b.call('users', { withCache: true })), ['alice', 'bob']);
  // a process in global mode finds the same query's response; $withCache(false) opts out
  const g = await w.spawn(LONG);
  assert.deepEqual(names(await g.call('users')), ['alice', 'bob']);
  assert.deepEqual(names(await g.call('users', { withCache: false })), ['ALICE', 'bob']);
  // a mutation invalidates in explicit mode too
  await a.call('insertUser', { name: 'carol' });
  assert.deepEqual(names(await b.call('users', { withCache: true })), ['ALICE', 'bob', 'carol']);
});

test('a tagged query is cached under its tag and dropped by invalidate({ tags }) from another process', async (t) => {
  const w = await world(t);
  const [a, b] = await Promise.all([w.spawn(LONG), w.spawn(LONG)]);
  const tagged = { withCache: { tag: 'all-users' } };
  assert.deepEqual(names(await a.call('users', tagged)), ['alice', 'bob']);
  assert.equal(
    (await a.call('exec', { args: ['EXISTS', 'drizzle:__tagsMap__\u0000all-users'] })),
    1,
  );
  await renameBehindDrizzle(w, 1, 'ALICE');
  assert.deepEqual(names(await b.call('users', tagged)), ['alice', 'bob']);
  // another query with the same tag is answered with the tagged rows (the tag is the key)
  assert.deepEqual(names(await b.call('user', { id: 2, withCache: { tag: 'all-users' } })), ['alice', 'bob']);
  await b.call('invalidate', { tags: 'all-users' });
  assert.deepEqual(names(await a.call('users', tagged)), ['ALICE', 'bob']);
  // tables invalidate tagged entries too, as with Upstash (the tag's response depends on them)
  await renameBehindDrizzle(w, 1, 'Alice');
  assert.deepEqual(names(await a.call('users', tagged)), ['ALICE', 'bob']);
  await b.call('invalidate', { tables: ['users'] });
  assert.deepEqual(names(await a.call('users', tagged)), ['Alice', 'bob']);
});

test('autoInvalidate: false keeps a response across writes until its tag is invalidated', async (t) => {
  const w = await world(t);
  const [a, b] = await Promise.all([w.spawn(LONG), w.spawn(LONG)]);
  const keep = { withCache: { tag: 'kept', autoInvalidate: false } };
  const keepUntagged = { withCache: { autoInvalidate: false } };
  assert.deepEqual(names(await a.call('users', keep)), ['alice', 'bob']);
  assert.deepEqual(await a.call('count', keepUntagged), [{ n: 2 }]);
  await b.call('insertUser', { name: 'carol' });
  assert.deepEqual(names(await b.call('users', keep)), ['alice', 'bob']);
  assert.deepEqual(await b.call('count', keepUntagged), [{ n: 2 }]);
  // the auto-invalidated select of the same rows is fresh
  assert.deepEqual(names(await b.call('users')), ['alice', 'bob', 'carol']);
  await a.call('invalidate', { tags: ['kept', 'no-such-tag'] });
  assert.deepEqual(names(await b.call('users', keep)), ['alice', 'bob', 'carol']);
  assert.deepEqual(await b.call('count', keepUntagged), [{ n: 2 }], 'untagged: only its TTL ends it');
});

test('invalidate({ tables }) by table object or name drops that table\'s queries only', async (t) => {
  const w = await world(t);
  const [a, b] = await Promise.all([w.spawn(LONG), w.spawn(LONG)]);
  await a.call('insertPost', { userId: 1, title: 'first' });
  assert.deepEqual(names(await a.call('users')), ['alice', 'bob']);
  assert.equal((await a.call('files')).length, 0);
  await renameBehindDrizzle(w, 1, 'ALICE');
  await w.raw.execute("INSERT INTO files (meta) VALUES ('{}')");
  await b.call('invalidate', { tables: ['files'] });
  assert.deepEqual(names(await a.call('users')), ['alice', 'bob'], 'users still cached');
  assert.equal((await a.call('files')).length, 1, 'files refreshed');
  await b.call('invalidate', { tables: ['users'] });
  assert.deepEqual(names(await a.call('users')), ['ALICE', 'bob']);
  // invalidation removed the bookkeeping of the tables with the responses; what stays is one
  // write counter per table
  await b.call('invalidate', { tables: ['users', 'posts', 'files'] });
  const left = await a.call('exec', { args: ['KEYS', 'drizzle:*'] });
  assert.deepEqual(left.sort(), [
    'drizzle:__epoch__\u0000files',
    'drizzle:__epoch__\u0000posts',
    'drizzle:__epoch__\u0000users',
  ]);
});

test('cached rows keep blobs, bigints, JSON and dates exactly', async (t) => {
  const w = await world(t);
  const [a, b] = await Promise.all([w.spawn(LONG), w.spawn(LONG)]);
  const blob = Buffer.from([0, 1, 2, 0, 255, 0x7b]);
  await w.raw.execute({
    sql: 'INSERT INTO files (data, big, meta, at) VALUES (?, ?, ?, ?)',
    args: [blob, Buffer.from('9007199254740993'), '{"a":[1,{"~zb":2}],"b":null}', 1700000000123],
  });
  await w.raw.execute({ sql: 'INSERT INTO files (data) VALUES (?)', args: [Buffer.alloc(0)] });
  const fresh = await a.call('files', { withCache: false });
  assert.equal(fresh.length, 2);
  assert.deepEqual(Buffer.from(fresh[0].data), blob);
  assert.equal(fresh[0].big, 9007199254740993n);
  const first = await a.call('files');
  await w.raw.execute('DELETE FROM files');
  const cached = await b.call('files');
  assert.deepEqual(cached, fresh);
  assert.deepEqual(first, fresh);
  assert.equal(cached[0].big, 9007199254740993n);
  assert.deepEqual(cached[0].meta, { a: [1, { '~zb': 2 }], b: null });
  assert.equal(cached[0].at.getTime(), 1700000000123);
  assert.equal(cached[1].data.length, 0);
  assert.equal(cached[1].at, null);
});

test('processes writing and reading at once each see their own writes, and all rows at the end', async (t) => {
  const w = await world(t, []);
  const apps = await Promise.all([0, 1, 2, 3].map(() => w.spawn(LONG)));
  const ROUNDS = 15;
  await Promise.all(
    apps.map(async (app, p) => {
      for (let k = 0; k < ROUNDS; k++) {
        await app.call('insertUser', { name: `p${p}-${k}` });
        const seen = new Set(names(await app.call('users')));
        for (let j = 0; j <= k; j++) {
          assert.ok(seen.has(`p${p}-${j}`), `process ${p}, round ${k}: p${p}-${j} missing`);
        }
      }
    }),
  );
  const all = (await w.raw.execute('SELECT name FROM users ORDER BY id')).rows.map((r) => r.name);
  assert.equal(all.length, apps.length * ROUNDS);
  for (const app of apps) assert.deepEqual(names(await app.call('users')), all);
});
