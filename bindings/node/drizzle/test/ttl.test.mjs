// Expiry: every response is a ZiggyDB key with its own TTL, set from Drizzle's CacheConfig
// (ex / px / exat / pxat / keepTtl / hexOptions), per query or as the cache's default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { world, names, eventually } from './helpers.mjs';

const TAG_KEY = (tag) => `drizzle:__tagsMap__\u0000${tag}`;

async function entryKeys(app) {
  return app.call('exec', { args: ['KEYS', 'drizzle:__CT__users\u0000*'] });
}

test('with no config a response lives one second, as with Upstash, then the database answers', async (t) => {
  const w = await world(t);
  const a = await w.spawn({ global: true });
  assert.deepEqual(names(await a.call('users')), ['alice', 'bob']);
  const [key] = await entryKeys(a);
  const pttl = await a.call('exec', { args: ['PTTL', key] });
  assert.ok(pttl > 0 && pttl <= 1000, `PTTL ${pttl}`);
  await w.raw.execute("UPDATE users SET name = 'ALICE' WHERE id = 1");
  await eventually(async () => names(await a.call('users'))[0] === 'ALICE', 30_000, 'expiry');
});

test('the cache-wide config sets the TTL of every response', async (t) => {
  const w = await world(t);
  const a = await w.spawn({ global: true, config: { ex: 600 } });
  await a.call('users');
  const [key] = await entryKeys(a);
  const pttl = await a.call('exec', { args: ['PTTL', key] });
  assert.ok(pttl > 500_000 && pttl <= 600_000, `PTTL ${pttl}`);
});

test('a per-query px overrides the cache-wide config, and the response expires', async (t) => {
  const w = await world(t);
  const a = await w.spawn({ global: true, config: { ex: 600 } });
  const b = await w.spawn({ global: true, config: { ex: 600 } });
  const short = { withCache: { config: { px: 300 }, tag: 'short' } };
  assert.deepEqual(names(await a.call('users', short)), ['alice', 'bob']);
  const pttl = await a.call('exec', { args: ['PTTL', TAG_KEY('short')] });
  assert.ok(pttl > 0 && pttl <= 300, `PTTL ${pttl}`);
  await w.raw.execute("UPDATE users SET name = 'ALICE' WHERE id = 1");
  await eventually(async () => names(await b.call('users', short))[0] === 'ALICE', 30_000, 'expiry');
  // and the fresh rows were cached again with the same expiry
  const again = await b.call('exec', { args: ['PTTL', TAG_KEY('short')] });
  assert.ok(again > 0 && again <= 300, `PTTL ${again}`);
});

test('exat and pxat set the expiry time itself', async (t) => {
  const w = await world(t);
  const a = await w.spawn({ global: true });
  const exat = Math.floor(Date.now() / 1000) + 3600;
  const pxat = Date.now() + 7_200_123;
  await a.call('users', { withCache: { tag: 's', config: { exat } } });
  await a.call('user', { id: 1, withCache: { tag: 'ms', config: { pxat } } });
  assert.equal(await a.call('exec', { args: ['EXPIRETIME', TAG_KEY('s')] }), exat);
  assert.equal(await a.call('exec', { args: ['PEXPIRETIME', TAG_KEY('ms')] }), pxat);
  // the tag's set membership does not expire: it goes with an invalidation or a prune
  const members = await a.call('exec', { args: ['SMEMBERS', 'drizzle:__CT__users'] });
  assert.deepEqual(members.sort(), [TAG_KEY('ms'), TAG_KEY('s')]);
});

test('keepTtl on a new response keeps it until invalidated, as SET KEEPTTL does', async (t) => {
  const w = await world(t);
  const a = await w.spawn({ global: true, config: { keepTtl: true } });
  await a.call('users', { withCache: { tag: 'kept' } });
  assert.equal(await a.call('exec', { args: ['PTTL', TAG_KEY('kept')] }), -1);
  await a.call('insertUser', { name: 'carol' });
  assert.equal(await a.call('exec', { args: ['EXISTS', TAG_KEY('kept')] }), 0);
});

test('a bad expiry is refused with a clear error', async (t) => {
  const w = await world(t);
  const a = await w.spawn({ global: true });
  await assert.rejects(a.call('users', { withCache: { config: { ex: 0 } } }), /config\.ex must be a positive integer, got 0/);
  await assert.rejects(a.call('users', { withCache: { config: { px: 1.5 } } }), /config\.px must be a positive integer/);
  await assert.rejects(
    a.call('users', { withCache: { config: { ex: 5, px: 5000 } } }),
    /give one of ex, px, exat, pxat, keepTtl, not ex and px/,
  );
  await assert.rejects(
    a.call('users', { withCache: { config: { ex: 5, hexOptions: 'SOON' } } }),
    /hexOptions must be NX, XX, GT or LT, got SOON/,
  );
});
