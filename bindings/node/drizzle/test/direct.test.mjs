// The cache's own calls, without Drizzle in between: the value codec, the constructor, both
// module systems, and the expiry options that Drizzle's flow (put only after a miss) cannot
// reach on an existing key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cache } from 'drizzle-orm/cache/core';
import { is } from 'drizzle-orm';
import { ZiggyCache, ziggyCache } from 'ziggydb/drizzle';
import { open } from 'ziggydb';

const require = createRequire(import.meta.url);
const codec = require('../codec.cjs');

function tmp(t) {
  const dir = mkdtempSync(join(tmpdir(), 'ziggy-drizzle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'cache.db');
}

const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `db.$cache.invalidate(params)`'s call, onMutate, in another Node process. */
function invalidateElsewhere(path, params) {
  const script = `
    import { ZiggyCache } from 'ziggydb/drizzle';
    const cache = new ZiggyCache(process.argv[1]);
    await cache.onMutate(JSON.parse(process.argv[2]));
    cache.close();`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script, path, JSON.stringify(params)], {
    cwd: PACKAGE_DIR,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

function libsqlRow(columns, values) {
  const row = {};
  values.forEach((v, i) => Object.defineProperty(row, i, { value: v, enumerable: false }));
  Object.defineProperty(row, 'length', { value: values.length, enumerable: false });
  columns.forEach((c, i) => (row[c] = values[i]));
  return row;
}

test('the codec gives back what it was given', () => {
  const ab = new Uint8Array([9, 0, 8]).buffer;
  const values = [
    null,
    true,
    'text with \u0000 and ~z',
    0,
    -0,
    1.5,
    NaN,
    Infinity,
    -Infinity,
    12345678901234567890n,
    -3n,
    Buffer.from([0, 1, 2]),
    new Uint8Array([3, 4]),
    new Float64Array([1.25, -2]),
    ab,
    new Date(1700000000123),
    [1, undefined, null, [2, [3]]],
    { a: 1, nested: { b: [true] }, u: undefined },
    { '~zB': 'not a buffer', '~zr': 1 },
    { '~zo': { x: 1 } },
  ];
  for (const v of values) {
    const back = codec.decode(codec.encode(v));
    assert.deepEqual(back, v, `round trip of ${String(v)}`);
    assert.equal(Object.prototype.toString.call(back), Object.prototype.toString.call(v));
  }
  assert.ok(Object.is(codec.decode(codec.encode(-0)), -0));
  const invalid = codec.decode(codec.encode(new Date(NaN)));
  assert.ok(invalid instanceof Date && Number.isNaN(invalid.getTime()), 'an invalid Date stays one');
  assert.ok(Buffer.isBuffer(codec.decode(codec.encode(Buffer.from('x')))));
  assert.ok(codec.decode(codec.encode(ab)) instanceof ArrayBuffer);
  assert.ok(codec.decode(Buffer.from(codec.encode('from a buffer'))) === 'from a buffer');
});

test('the codec keeps a libsql row an array-like row with named columns', () => {
  const row = libsqlRow(['id', 'name', 'blob'], [1, 'x', new Uint8Array([1, 2]).buffer]);
  const back = codec.decode(codec.encode([row]))[0];
  assert.deepEqual(Array.prototype.slice.call(back), Array.prototype.slice.call(row));
  assert.deepEqual({ ...back }, { ...row });
  assert.equal(back.length, 3);
  assert.deepEqual(Object.keys(back), ['id', 'name', 'blob']);
  // what plain JSON (Upstash's client) makes of it: an object Drizzle maps to an empty row
  assert.deepEqual(Array.prototype.slice.call(JSON.parse(JSON.stringify(row))), []);
});

test('the codec keeps repeated column names and odd array-likes as libsql had them', () => {
  // a join of two tables with an id each: libsql names the first, both values are indexed
  const join = libsqlRow(['id', 'name'], [1, 'x', 2]);
  Object.defineProperty(join, 2, { value: 2, enumerable: false });
  const back = codec.decode(codec.encode(join));
  assert.deepEqual(Array.prototype.slice.call(back), [1, 'x', 2]);
  assert.deepEqual({ ...back }, { id: 1, name: 'x' });
  // equal values in two columns
  const same = libsqlRow(['a', 'b', 'c'], [7, 7, null]);
  assert.deepEqual({ ...codec.decode(codec.encode(same)) }, { a: 7, b: 7, c: null });
  // a named property that is no index's value: kept through the general form
  const odd = libsqlRow(['a'], [1]);
  odd.extra = 'e';
  const oddBack = codec.decode(codec.encode(odd));
  assert.deepEqual({ ...oddBack }, { a: 1, extra: 'e' });
  assert.deepEqual(Array.prototype.slice.call(oddBack), [1]);
  // a decoded row encodes again as a row
  const again = codec.decode(codec.encode(codec.decode(codec.encode(join))));
  assert.deepEqual(Array.prototype.slice.call(again), [1, 'x', 2]);
  assert.equal(again.length, 3);
});

test('the codec refuses what it did not write', () => {
  assert.throws(() => codec.decode('{"~zq":1}'), /unknown tag ~zq/);
  assert.throws(() => codec.decode('{"~zT":["Nope","AA=="]}'), /unknown typed array Nope/);
  assert.throws(() => codec.decode('{"~zr":[[1],["a","b"]]}'), /malformed ~zr/);
  assert.throws(() => codec.decode('{"~zr":5}'), /malformed ~zr/);
  assert.throws(() => codec.decode('{"~zT":"x"}'), /malformed ~zT/);
  assert.throws(() => codec.decode('not json'), SyntaxError);
});

test('ZiggyCache is a Drizzle Cache in ESM and CommonJS, on a path or an open database', async (t) => {
  const path = tmp(t);
  const cache = new ZiggyCache(path);
  t.after(() => cache.close());
  assert.ok(cache instanceof Cache);
  assert.ok(is(cache, Cache));
  assert.equal(cache.strategy(), 'explicit');
  assert.equal(ziggyCache(cache.db, { global: true }).strategy(), 'all');

  const cjs = require('ziggydb/drizzle');
  const cjsCore = require('drizzle-orm/cache/core');
  const other = new cjs.ZiggyCache(cache.db, { global: true });
  assert.ok(other instanceof cjsCore.Cache);
  assert.equal(other.strategy(), 'all');
  await other.put('q1', [{ id: 1 }], ['users'], false, { ex: 60 });
  // a handle of the same directory sees it: same layout and prefix
  assert.deepEqual(await cache.get('q1', ['users'], false, true), [{ id: 1 }]);
  assert.equal(await cache.get('q1', ['posts'], false, true), undefined);
  assert.equal(await cache.get('q1', ['users'], false, false), undefined);
});

test('the constructor refuses bad arguments clearly', () => {
  assert.throws(() => new ZiggyCache(42), /expected a path or an open ziggydb database/);
  assert.throws(() => new ZiggyCache({ get() {}, execute() {} }), /expected a path or an open ziggydb database/);
  assert.throws(() => new ZiggyCache('/x', null), /options must be an object/);
  assert.throws(() => new ZiggyCache('/x', { prefix: 1 }), /prefix must be a string/);
  assert.throws(() => new ZiggyCache('/x', { config: { ex: -1 } }), /config\.ex must be a positive integer/);
});

test('prefixes keep two caches in one directory apart', async (t) => {
  const db = open(tmp(t), { durability: 'batched' });
  t.after(() => db.close());
  const one = new ZiggyCache(db, { prefix: 'one:' });
  const two = new ZiggyCache(db, { prefix: 'two:' });
  await one.put('q', ['one'], ['t'], false, { ex: 60 });
  await two.put('q', ['two'], ['t'], false, { ex: 60 });
  await one.onMutate({ tables: 't' });
  assert.equal(await one.get('q', ['t'], false, true), undefined);
  assert.deepEqual(await two.get('q', ['t'], false, true), ['two']);
});

test('keepTtl and hexOptions act on a response that is already there, like HSET + HEXPIRE', async (t) => {
  const db = open(tmp(t), { durability: 'batched' });
  t.after(() => db.close());
  const cache = new ZiggyCache(db);
  const key = 'drizzle:__tagsMap__\u0000t';
  const pttl = () => Number(db.execute('PTTL', key));
  await cache.put('t', ['v1'], ['users'], true, { px: 600_000 });
  await cache.put('t', ['v2'], ['users'], true, { keepTtl: true });
  assert.deepEqual(await cache.get('t', [], true, true), ['v2']);
  assert.ok(pttl() > 500_000, `keepTtl kept the TTL: ${pttl()}`);
  // NX: only where there is no expiry yet (there is): value replaced, TTL unchanged
  await cache.put('t', ['v3'], ['users'], true, { ex: 5, hexOptions: 'NX' });
  assert.deepEqual(await cache.get('t', [], true, true), ['v3']);
  assert.ok(pttl() > 500_000, `NX left the TTL: ${pttl()}`);
  // LT: only a shorter expiry
  await cache.put('t', ['v4'], ['users'], true, { ex: 5, hexOptions: 'lt' });
  assert.ok(pttl() > 0 && pttl() <= 5000, `LT shortened it: ${pttl()}`);
  // GT from the cache-wide config: not a shorter one
  const gt = new ZiggyCache(db, { config: { px: 1000, hexOptions: 'GT' } });
  await gt.put('t', ['v5'], ['users'], true);
  assert.ok(pttl() > 1000, `GT kept the longer TTL: ${pttl()}`);
  assert.deepEqual(await cache.get('t', [], true, true), ['v5']);
});

test('a composite set drops the names of expired responses as it grows', async (t) => {
  const db = open(tmp(t), { durability: 'batched' });
  t.after(() => db.close());
  const cache = new ZiggyCache(db);
  for (let i = 0; i < 40; i++) await cache.put(`dead${i}`, [i], ['users'], false, { px: 1 });
  await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 24; i++) await cache.put(`live${i}`, [i], ['users'], false, { ex: 600 });
  // the 64th name triggered a prune of the 40 expired ones
  const members = db.execute('SMEMBERS', 'drizzle:__CT__users').map(String);
  assert.equal(members.length, 24);
  assert.ok(members.every((m) => m.includes('live')));
  for (let i = 0; i < 24; i++) assert.deepEqual(await cache.get(`live${i}`, ['users'], false, true), [i]);
});

test('onMutate with nothing to do writes nothing, and empty tags are ignored', async (t) => {
  const db = open(tmp(t), { durability: 'batched' });
  t.after(() => db.close());
  const cache = new ZiggyCache(db);
  await cache.put('x', [1], [], true, { ex: 60 });
  await cache.onMutate({});
  await cache.onMutate({ tags: ['', undefined], tables: [] });
  assert.deepEqual(await cache.get('x', [], true, false), [1]);
  // Drizzle calls it unbound, as db.$cache.invalidate
  const { invalidate } = { invalidate: cache.onMutate };
  await invalidate({ tags: 'x' });
  assert.equal(await cache.get('x', [], true, false), undefined);
});

test('rows read before another process invalidated their tables or tags are not stored', async (t) => {
  const path = tmp(t);
  const db = open(path, { durability: 'batched' });
  t.after(() => db.close());
  const cache = new ZiggyCache(db);
  // a miss, the write and its invalidation elsewhere, then the put of the rows read before it
  assert.equal(await cache.get('q', ['users'], false, true), undefined);
  invalidateElsewhere(path, { tables: ['users'] });
  await cache.put('q', ['old rows'], ['users'], false, { ex: 60 });
  assert.equal(await cache.get('q', ['users'], false, true), undefined, 'stale rows were stored');
  // with no write in between they are stored
  await cache.put('q', ['new rows'], ['users'], false, { ex: 60 });
  assert.deepEqual(await cache.get('q', ['users'], false, true), ['new rows']);
  // a write to a table the query does not read does not stop the put
  assert.equal(await cache.get('q2', ['users', 'posts'], false, true), undefined);
  invalidateElsewhere(path, { tables: ['files'] });
  await cache.put('q2', ['rows'], ['users', 'posts'], false, { ex: 60 });
  assert.deepEqual(await cache.get('q2', ['posts', 'users'], false, true), ['rows']);
  // the same for a tag
  assert.equal(await cache.get('tag', [], true, false), undefined);
  invalidateElsewhere(path, { tags: ['tag'] });
  await cache.put('tag', ['old'], [], true, { ex: 60 });
  assert.equal(await cache.get('tag', [], true, false), undefined, 'stale tagged rows were stored');
});

test('onMutate drops, once the write has run, rows another process cached in between', async (t) => {
  const path = tmp(t);
  const writerDb = open(path, { durability: 'batched' });
  const readerDb = open(path, { durability: 'batched' });
  t.after(() => {
    writerDb.close();
    readerDb.close();
  });
  const writer = new ZiggyCache(writerDb);
  const reader = new ZiggyCache(readerDb);
  await reader.put('q', ['before'], ['users'], false, { ex: 60 });
  // Drizzle: Promise.all([write, onMutate]); the write runs after this tick's first pass
  const mutating = writer.onMutate({ tables: 'users' });
  assert.equal(await reader.get('q', ['users'], false, true), undefined, 'first pass');
  // a select elsewhere reads the rows before the write commits, and stores them
  await reader.put('q', ['read before the write'], ['users'], false, { ex: 60 });
  assert.deepEqual(await reader.get('q', ['users'], false, true), ['read before the write']);
  await mutating;
  assert.equal(await reader.get('q', ['users'], false, true), undefined, 'second pass');
});

test('a query without tables is found where Drizzle puts it', async (t) => {
  const db = open(tmp(t), { durability: 'batched' });
  t.after(() => db.close());
  const cache = new ZiggyCache(db);
  // Drizzle gets with autoInvalidate true and tables [], then puts with tables []
  assert.equal(await cache.get('q', [], false, true), undefined);
  await cache.put('q', [{ one: 1 }], [], false, { ex: 60 });
  assert.deepEqual(await cache.get('q', [], false, true), [{ one: 1 }]);
});
