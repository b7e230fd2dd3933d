'use strict';
// The Drizzle cache on ZiggyDB. `makeZiggyCache` builds the class on the `Cache` of whichever
// drizzle-orm build the caller imported (index.cjs: the CommonJS one, index.mjs: the ESM one),
// so `cache instanceof Cache` holds for the program's own drizzle-orm in either module system.
//
// Layout (P is the `prefix` option; names follow drizzle-orm's UpstashCache). ZiggyDB has no
// per-field hash expiry (Redis's HEXPIRE), so where Upstash keeps one hash field with its own
// TTL, this keeps one string key named `<hash>\0<field>` with the key's TTL:
//
//   P__CT__<t1,t2>\0<queryHash>      a response of an auto-invalidated query reading tables
//                                   t1,t2 (sorted); Upstash: field <queryHash> of hash __CT__t1,t2
//   P__tagsMap__\0<tag>              a response cached under a tag; Upstash: field <tag> of the
//                                   hash that __tagsMap__'s field <tag> names
//   P__nonAutoInvalidate__\0<hash>   a response of a query with autoInvalidate: false
//   P__CT__<t1,t2>                   set: the keys of the responses that depend on t1,t2
//                                   (Upstash: the hash itself)
//   P__CTS__<t>                      set: the P__CT__ sets that involve table t (as Upstash)
//   P__epoch__\0<t>                  int: how many times table t was invalidated (not in Upstash)
//   P__tagsEpoch__                   int: how many times tags were invalidated (not in Upstash)
//
// put() and onMutate() each run as one ZiggyDB transaction, so every process sees all of one
// or none of it, and an invalidation cannot lose a response another process adds meanwhile
// (Upstash runs onMutate as a Lua script and put as a pipeline). The counters close a race
// Upstash leaves open: a select that misses, reads the old rows, and stores them after another
// process's write has invalidated its tables; here put() stores nothing when a counter it
// read at the miss has moved.

const { encode, decode } = require('./codec.cjs');

const SEP = '\u0000';
const PRUNE_FROM = 64;
const MAX_MISSES = 10_000;
const EXPIRY_KEYS = ['ex', 'px', 'exat', 'pxat', 'keepTtl'];
const HEX_OPTIONS = new Set(['NX', 'XX', 'GT', 'LT']);

function positiveInt(name, v) {
  if (!Number.isSafeInteger(v) || v <= 0) {
    throw new TypeError(`ZiggyCache: config.${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

/**
 * The expiry of one put, as the arguments of SET and (with hexOptions) of a PEXPIRE /
 * PEXPIREAT that follows it: `{ set: [...], expire: [cmd, ms] | null }`.
 */
function expiryArgs(config, fallback) {
  const pick = (c) => (c ? EXPIRY_KEYS.filter((k) => c[k] !== undefined && c[k] !== false) : []);
  let c = config;
  let given = pick(c);
  if (given.length === 0) {
    c = fallback;
    given = pick(c);
  }
  if (given.length === 0) {
    // drizzle-orm's UpstashCache keeps a response one second when no ex is configured
    c = { ex: 1 };
    given = ['ex'];
  }
  if (given.length > 1) {
    throw new TypeError(`ZiggyCache: give one of ex, px, exat, pxat, keepTtl, not ${given.join(' and ')}`);
  }
  const k = given[0];
  let hex = config && config.hexOptions !== undefined ? config.hexOptions : fallback && fallback.hexOptions;
  if (hex !== undefined) {
    hex = String(hex).toUpperCase();
    if (!HEX_OPTIONS.has(hex)) {
      throw new TypeError(`ZiggyCache: config.hexOptions must be NX, XX, GT or LT, got ${hex}`);
    }
  }
  if (k === 'keepTtl') return { set: ['KEEPTTL'], expire: null };
  const ms =
    k === 'ex' || k === 'exat' ? positiveInt(k, c[k]) * 1000 : positiveInt(k, c[k]);
  const cmd = k === 'ex' || k === 'px' ? 'PEXPIRE' : 'PEXPIREAT';
  if (hex === undefined) return { set: [cmd === 'PEXPIRE' ? 'PX' : 'PXAT', String(ms)], expire: null };
  // like Upstash's HSET + HEXPIRE <opt>: the value is replaced, its TTL kept, and the new
  // expiry applied only where the condition holds
  return { set: ['KEEPTTL'], expire: [cmd, String(ms), hex] };
}

/** The values of epoch counters as one comparable string (a missing counter is empty). */
function epochs(values) {
  return values.map((v) => (v === null || v === undefined ? '' : String(v))).join(',');
}

function asArray(x) {
  if (Array.isArray(x)) return x;
  return x === undefined || x === null ? [] : [x];
}

/**
 * Wraps a ZiggyDB handle of the Node binding: `get(key)` reads one value (a Buffer, straight
 * from the library rather than through a command), `atomic(fn)` runs `fn(exec)` inside one
 * write transaction, `exec(...args)` running a command in it.
 */
function store(db) {
  if (
    !db ||
    typeof db.get !== 'function' ||
    typeof db.execute !== 'function' ||
    typeof db.transaction !== 'function'
  ) {
    throw new TypeError('ZiggyCache: expected a path or an open ziggydb database');
  }
  return {
    get: (key) => db.get(key),
    mget: (keys) => db.execute('MGET', ...keys),
    atomic: (fn) => db.transaction((tx) => fn((...args) => tx.execute(...args))),
  };
}

function makeZiggyCache({ Cache, entityKind, is, Table, OriginalName, open }) {
  class ZiggyCache extends Cache {
    static [entityKind] = 'ZiggyCache';

    /**
     * @param {string | object} pathOrDb a database directory, or a database the program opened
     * @param {{ global?: boolean, config?: object, prefix?: string, durability?: string }} [options]
     */
    constructor(pathOrDb, options = {}) {
      super();
      if (options === null || typeof options !== 'object') {
        throw new TypeError('ZiggyCache: options must be an object');
      }
      const { global = false, config, prefix = 'drizzle:', durability = 'batched' } = options;
      if (typeof prefix !== 'string') throw new TypeError('ZiggyCache: prefix must be a string');
      // fail on a bad default expiry now rather than at the first put
      expiryArgs(undefined, config);
      this.ownsDb = typeof pathOrDb === 'string';
      this.db = this.ownsDb ? open(pathOrDb, { durability }) : pathOrDb;
      this.store = store(this.db);
      this.useGlobally = Boolean(global);
      this.config = config;
      this.prefix = prefix;
      this.tagPrefix = `${prefix}__tagsMap__${SEP}`;
      this.nonAutoPrefix = `${prefix}__nonAutoInvalidate__${SEP}`;
      this.epochPrefix = `${prefix}__epoch__${SEP}`;
      this.tagsEpochKey = `${prefix}__tagsEpoch__`;
      /** entry key -> the epoch counters read at its last miss in this process */
      this.misses = new Map();
      // Drizzle installs onMutate as db.$cache.invalidate, unbound
      this.onMutate = this.onMutate.bind(this);
    }

    strategy() {
      return this.useGlobally ? 'all' : 'explicit';
    }

    compositeKey(tables) {
      return `${this.prefix}__CT__${[...tables].sort().join(',')}`;
    }

    tableSetKey(table) {
      return `${this.prefix}__CTS__${table}`;
    }

    entryKey(key, tables, isTag, isAutoInvalidate) {
      if (isTag) return this.tagPrefix + key;
      if (!isAutoInvalidate) return this.nonAutoPrefix + key;
      return this.compositeKey(tables) + SEP + key;
    }

    /** The counters a response of these tables (and, for a tag, the tags) depends on. */
    epochKeys(tables, isTag, isAutoInvalidate) {
      const keys = isAutoInvalidate ? tables.map((t) => this.epochPrefix + t) : [];
      if (isTag) keys.push(this.tagsEpochKey);
      return keys;
    }

    async get(key, tables, isTag = false, isAutoInvalidate) {
      // Drizzle puts a query without tables as not auto-invalidated: look for it there
      const auto = Boolean(isAutoInvalidate) && tables.length !== 0;
      const entry = this.entryKey(key, tables, isTag, auto);
      const raw = this.store.get(entry);
      if (raw !== null && raw !== undefined) return decode(raw);
      // a miss: Drizzle runs the query and puts its rows; remember the counters now, so that
      // put() can tell whether a write invalidated these tables meanwhile
      const keys = this.epochKeys(tables, isTag, auto);
      if (keys.length > 0) {
        if (this.misses.size >= MAX_MISSES) this.misses.clear();
        this.misses.set(entry, { keys, seen: epochs(this.store.mget(keys)) });
      }
      return undefined;
    }

    async put(key, response, tables, isTag = false, config) {
      const isAutoInvalidate = tables.length !== 0;
      const entry = this.entryKey(key, tables, isTag, isAutoInvalidate);
      const { set, expire } = expiryArgs(config, this.config);
      const payload = encode(response);
      const miss = this.misses.get(entry);
      if (miss !== undefined) this.misses.delete(entry);
      this.store.atomic((exec) => {
        // rows read before an invalidation of their tables are not stored: they may be older
        // than the write that invalidated them (Upstash stores them, until they expire)
        if (miss !== undefined && epochs(exec('MGET', ...miss.keys)) !== miss.seen) return;
        exec('SET', entry, payload, ...set);
        if (expire) exec(expire[0], entry, ...expire.slice(1));
        if (!isAutoInvalidate) return;
        const composite = this.compositeKey(tables);
        if (Number(exec('SADD', composite, entry)) === 1) this.prune(exec, composite);
        for (const table of tables) exec('SADD', this.tableSetKey(table), composite);
      });
    }

    /**
     * Drops the names of responses that expired from a composite set, when its size reaches a
     * power of two (64, 128, ...): amortised O(1) per put, and the set stays within twice the
     * number of live responses.
     */
    prune(exec, composite) {
      const n = Number(exec('SCARD', composite));
      if (n < PRUNE_FROM || (n & (n - 1)) !== 0) return;
      const gone = [];
      for (const member of exec('SMEMBERS', composite)) {
        if (Number(exec('EXISTS', member)) === 0) gone.push(member);
      }
      if (gone.length > 0) exec('SREM', composite, ...gone);
    }

    async onMutate(params = {}) {
      const tags = asArray(params.tags).filter((t) => t !== undefined && t !== null && t !== '');
      const tableNames = asArray(params.tables).map((t) => (is(t, Table) ? t[OriginalName] : t));
      if (tags.length === 0 && tableNames.length === 0) return;
      const tableSets = tableNames.map((t) => this.tableSetKey(t));
      const pass = () =>
        this.store.atomic((exec) => {
          for (const t of tableNames) exec('INCR', this.epochPrefix + t);
          if (tags.length > 0) exec('INCR', this.tagsEpochKey);
          invalidate(exec);
        });
      const invalidate = (exec) => {
        const doomed = tags.map((t) => this.tagPrefix + t);
        if (tableSets.length > 0) {
          const composites = exec('SUNION', ...tableSets);
          for (const composite of composites) {
            doomed.push(composite);
            for (const member of exec('SMEMBERS', composite)) doomed.push(member);
          }
          doomed.push(...tableSets);
        }
        if (doomed.length > 0) exec('DEL', ...doomed);
      };
      pass();
      // Drizzle starts a write and this call together, and the write runs a tick later
      // (libsql first awaits a connection from its pool): a select in another process can
      // read the old rows after the pass above, and store them. A second pass, once the work
      // queued in this tick has run, drops them; Drizzle's write resolves only after it.
      await new Promise((resolve) => setImmediate(resolve));
      pass();
    }

    /** Closes the database if the cache opened it from a path. */
    close() {
      if (this.ownsDb) this.db.close();
    }
  }
  return ZiggyCache;
}

module.exports = { makeZiggyCache, expiryArgs };
