// One application process of the tests: Drizzle over libsql on a shared SQLite file, with a
// ZiggyCache on a shared ZiggyDB directory. The test process sends it requests over IPC
// ({ seq, op, args }) and gets { seq, ok, value } or { seq, ok: false, error } back.
import { createClient } from '@libsql/client';
import { drizzle } from 'drizzle-orm/libsql';
import { eq, sql } from 'drizzle-orm';
import { ZiggyCache } from 'ziggydb/drizzle';
import { users, posts, files } from './schema.mjs';

const { ZIGGY_DIR, SQLITE_FILE, CACHE_OPTIONS } = process.env;
const options = JSON.parse(CACHE_OPTIONS || '{}');
const cache = new ZiggyCache(ZIGGY_DIR, options);
const client = createClient({ url: `file:${SQLITE_FILE}` });
await client.execute('PRAGMA busy_timeout = 30000');
const db = drizzle({ client, cache });

function withCache(q, wc) {
  if (wc === undefined) return q;
  return wc === true ? q.$withCache() : q.$withCache(wc);
}

const ops = {
  // a select of every user, in id order; `withCache` is $withCache's argument (true: no argument)
  users: ({ withCache: wc }) => withCache(db.select().from(users).orderBy(users.id), wc),
  user: ({ id, withCache: wc }) => withCache(db.select().from(users).where(eq(users.id, id)), wc),
  usersWithPosts: ({ withCache: wc }) =>
    withCache(
      db
        .select({ name: users.name, title: posts.title })
        .from(users)
        .innerJoin(posts, eq(posts.userId, users.id))
        .orderBy(posts.id),
      wc,
    ),
  files: ({ withCache: wc }) => withCache(db.select().from(files).orderBy(files.id), wc),
  count: ({ withCache: wc }) =>
    withCache(db.select({ n: sql`count(*)`.mapWith(Number) }).from(users), wc),
  insertUser: ({ name }) => db.insert(users).values({ name }).returning(),
  renameUser: async ({ id, name }) =>
    (await db.update(users).set({ name }).where(eq(users.id, id))).rowsAffected,
  deleteUser: async ({ id }) => (await db.delete(users).where(eq(users.id, id))).rowsAffected,
  insertPost: async ({ userId, title }) =>
    (await db.insert(posts).values({ userId, title })).rowsAffected,
  invalidate: async ({ tags, tables }) => {
    const t = { users, posts, files };
    await db.$cache.invalidate({
      tags,
      tables: tables === undefined ? undefined : tables.map((name) => t[name] ?? name),
    });
  },
  // a command on the cache's own ZiggyDB handle, bulk replies as strings
  exec: ({ args }) => {
    const text = (r) =>
      Buffer.isBuffer(r) ? r.toString('utf8') : Array.isArray(r) ? r.map(text) : r;
    return text(cache.db.execute(...args));
  },
  exit: () => {
    setImmediate(() => {
      cache.close();
      client.close();
      process.exit(0);
    });
  },
};

process.on('message', async ({ seq, op, args }) => {
  try {
    // a value IPC cannot carry fails here, in this request, instead of never answering
    const value = structuredClone(await ops[op](args));
    process.send({ seq, ok: true, value });
  } catch (e) {
    process.send({ seq, ok: false, error: String(e && e.stack ? e.stack : e) });
  }
});
// a test runner killed mid-test leaves no process behind
process.on('disconnect', () => process.exit(1));
process.send({ ready: true });
