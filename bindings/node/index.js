'use strict';
// ZiggyDB for Node.js: the public API over the native module (src/lib.rs, built into
// ziggydb.node by `npm run build`). This file picks a value's type from the JS value, turns
// `{ ex, px, exat, pxat, keepTtl }` into an expiry time, runs transactions, and throws every
// failure as a ZiggyError subclass. Synchronous calls run on the calling thread (like
// better-sqlite3); `db.async.*` run on the libuv thread pool and return Promises.

const path = require('node:path');
const { EventEmitter } = require('node:events');

function loadNative() {
  const file = process.env.ZIGGYDB_NATIVE || path.join(__dirname, 'ziggydb.node');
  try {
    return require(file);
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND') {
      const err = new Error(
        `ziggydb: the native module ${file} is not built; run \`npm run build\` in ${__dirname} ` +
          '(it needs Rust and cargo)',
      );
      err.code = 'MODULE_NOT_FOUND';
      throw err;
    }
    throw e;
  }
}

const native = loadNative();

// ---------------------------------------------------------------------------------------
// Errors: one class per stable error code of the library (its numeric code as `errno`),
// all under ZiggyError, plus the binding's own: ReplyError (an error reply of `execute`),
// ClosedError (a closed handle or an ended transaction), InternalError.

class ZiggyError extends Error {
  constructor(message, code, errno, options) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    if (errno !== undefined) this.errno = errno;
  }
}

/** The library's stable error codes (ziggydb::ErrorCode): name → number. */
const ERROR_CODES = Object.freeze({
  IO: 10,
  PERMISSION_DENIED: 11,
  DISK_FULL: 12,
  COMPACT_NEEDS_SPACE: 13,
  READ_ONLY_FILE_SYSTEM: 14,
  OUT_OF_MEMORY: 15,
  CORRUPT_WAL: 20,
  CHECKSUM_MISMATCH: 21,
  CORRUPT_SEGMENT: 22,
  CORRUPT_INDEX: 23,
  CORRUPT_MANIFEST: 24,
  CORRUPT_SHM: 25,
  CORRUPT_COLLECTION: 26,
  CORRUPT_VALUE: 27,
  MANIFEST_MISSING: 28,
  NEEDS_RECOVERY: 29,
  NOT_A_DATABASE: 40,
  NOT_A_DIRECTORY: 41,
  INCOMPATIBLE_VERSION: 42,
  SYMLINK: 43,
  NOT_REGULAR_FILE: 44,
  MODE_MISMATCH: 45,
  OPTIONS_MISMATCH: 46,
  OPEN_READ_WRITE: 47,
  IN_USE: 48,
  BUSY: 60,
  POISONED: 61,
  READ_ONLY: 62,
  FORKED: 63,
  TXN_ACTIVE: 64,
  SUBSCRIBER_OVERRUN: 65,
  SNAPSHOT_TOO_OLD: 66,
  INVALID_ARGUMENT: 80,
  KEY_TOO_LARGE: 81,
  VALUE_TOO_LARGE: 82,
  BAD_IMPORT_LINE: 83,
  WRONG_TYPE: 100,
  NOT_AN_INTEGER: 101,
  NOT_A_FLOAT: 102,
  OVERFLOW: 103,
  INVALID_JSON: 104,
  NO_SUCH_KEY: 105,
  INDEX_OUT_OF_RANGE: 106,
});

/** `WRONG_TYPE` → `WrongTypeError`. */
function className(code) {
  return (
    code
      .toLowerCase()
      .split('_')
      .map((w) => w[0].toUpperCase() + w.slice(1))
      .join('') + 'Error'
  );
}

const errors = { ZiggyError };
const byCode = new Map();
function defineError(code, errno) {
  const name = className(code);
  const cls = {
    [name]: class extends ZiggyError {
      constructor(message, options) {
        super(message, code, errno, options);
      }
    },
  }[name];
  errors[name] = cls;
  byCode.set(code, cls);
}
for (const [code, errno] of Object.entries(ERROR_CODES)) defineError(code, errno);
defineError('CLOSED');
defineError('INTERNAL');

/** An error reply of `execute` (`WRONGTYPE …`, `ERR …`): `prefix` is its first word. */
class ReplyError extends ZiggyError {
  constructor(message, options) {
    super(message, 'REPLY_ERROR', undefined, options);
    this.prefix = String(message).split(' ', 1)[0];
  }
}
errors.ReplyError = ReplyError;
byCode.set('REPLY_ERROR', ReplyError);

/** The ZiggyError for an error the native module threw; anything else as it is. */
function convert(e) {
  if (e instanceof ZiggyError || e === null || typeof e !== 'object') return e;
  const cls = typeof e.code === 'string' ? byCode.get(e.code) : undefined;
  if (cls) return new cls(e.message);
  // napi's own argument checks (a value of the wrong JS type reaching the native module).
  if (e instanceof Error && typeof e.code === 'string' && /^[A-Z][a-z]/.test(e.code)) {
    return new errors.InvalidArgumentError(e.message);
  }
  return e;
}

/** Runs a native call, throwing its failure as a ZiggyError. */
function call(fn) {
  try {
    return fn();
  } catch (e) {
    throw convert(e);
  }
}

/** A native promise's value; the native module resolves with an Error it means to throw. */
function settled(v) {
  if (v instanceof Error) throw convert(v);
  return v;
}
function fromPool(promise) {
  return promise.then(settled, (e) => {
    throw convert(e);
  });
}

/**
 * The rejection of a call ended by its `AbortSignal`, as Node's own (`fs.promises`,
 * `timers/promises`) name it: `name` `'AbortError'`, `code` `'ABORT_ERR'`, the signal's
 * reason as `cause`.
 */
class AbortError extends Error {
  constructor(message = 'The operation was aborted', options) {
    super(message, options);
    this.name = 'AbortError';
    this.code = 'ABORT_ERR';
  }
}

function abortError(signal) {
  return new AbortError(undefined, { cause: signal.reason });
}

// ---------------------------------------------------------------------------------------
// Values.

const KIND = Object.freeze({ bytes: 1, string: 2, int: 3, float: 4, bool: 5, timestamp: 6, json: 7 });

/** A number to store as a float even when it is whole: `db.set('k', ziggydb.float(3))`. */
class Float {
  constructor(value) {
    if (typeof value !== 'number') throw new TypeError('ziggydb.float takes a number');
    this.value = value;
    Object.freeze(this);
  }
}
function float(value) {
  return new Float(value);
}

function asBuffer(u8) {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function key(k) {
  if (typeof k === 'string' || Buffer.isBuffer(k)) return k;
  if (k instanceof Uint8Array) return asBuffer(k);
  throw new TypeError(`a key is a string or a Buffer, not ${describe(k)}`);
}

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'object') return v.constructor ? `a ${v.constructor.name}` : 'an object';
  return `a ${typeof v}`;
}

/** [kind, value for the native module] of a JS value, by its type or the `type` option. */
function encode(value, type) {
  if (type !== undefined) return encodeAs(value, type);
  switch (typeof value) {
    case 'string':
      return [KIND.string, value];
    case 'number':
      return [Number.isSafeInteger(value) ? KIND.int : KIND.float, value];
    case 'bigint':
      return [KIND.int, value];
    case 'boolean':
      return [KIND.bool, value ? 1 : 0];
    case 'object':
      if (value === null) break;
      if (Buffer.isBuffer(value)) return [KIND.bytes, value];
      if (value instanceof Uint8Array) return [KIND.bytes, asBuffer(value)];
      if (value instanceof Date) return [KIND.timestamp, time(value)];
      if (value instanceof Float) return [KIND.float, value.value];
      return [KIND.json, json(value)];
    default:
      break;
  }
  throw new TypeError(
    `cannot store ${describe(value)}: values are Buffers, strings, numbers, bigints, ` +
      'booleans, Dates or JSON-serialisable objects (delete a key with db.delete)',
  );
}

function encodeAs(value, type) {
  const kind = KIND[type];
  if (kind === undefined) {
    throw new TypeError(`unknown type '${type}': one of ${Object.keys(KIND).join(', ')}`);
  }
  const bad = () => new TypeError(`cannot store ${describe(value)} as type '${type}'`);
  switch (type) {
    case 'bytes':
      if (typeof value === 'string') return [kind, Buffer.from(value, 'utf8')];
      if (value instanceof Uint8Array) return [kind, asBuffer(value)];
      throw bad();
    case 'string':
      if (typeof value !== 'string') throw bad();
      return [kind, value];
    case 'int':
      if (typeof value === 'bigint' || Number.isInteger(value)) return [kind, value];
      throw bad();
    case 'float':
      if (value instanceof Float) return [kind, value.value];
      if (typeof value === 'number') return [kind, value];
      if (typeof value === 'bigint') return [kind, Number(value)];
      throw bad();
    case 'bool':
      if (typeof value !== 'boolean') throw bad();
      return [kind, value ? 1 : 0];
    case 'timestamp':
      if (value instanceof Date) return [kind, time(value)];
      if (typeof value === 'bigint' || Number.isInteger(value)) return [kind, value];
      throw bad();
    case 'json':
      // A string given as JSON is JSON text (checked when written), not a JSON string.
      if (typeof value === 'string') return [kind, value];
      return [kind, json(value)];
    default:
      throw bad();
  }
}

function time(date) {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new TypeError('cannot store an invalid Date');
  return ms;
}

function json(value) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`cannot store ${describe(value)} as JSON`);
  return text;
}

function positive(n, name) {
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    throw new TypeError(`${name} must be a positive number, not ${String(n)}`);
  }
  return n;
}

/** [expiry in Unix ms or undefined, keepTtl] from `{ ex, px, exat, pxat, keepTtl }`. */
function expiry(opts) {
  if (opts === undefined || opts === null) return [undefined, false];
  if (typeof opts !== 'object') throw new TypeError('the options of set are an object');
  const { ex, px, exat, pxat, keepTtl } = opts;
  const given = [ex, px, exat, pxat, keepTtl ? true : undefined].filter((v) => v !== undefined);
  if (given.length > 1) throw new TypeError('give at most one of ex, px, exat, pxat, keepTtl');
  if (ex !== undefined) return [Date.now() + positive(ex, 'ex') * 1000, false];
  if (px !== undefined) return [Date.now() + positive(px, 'px'), false];
  if (exat !== undefined) return [positive(exat, 'exat') * 1000, false];
  if (pxat !== undefined) return [positive(pxat, 'pxat'), false];
  return [undefined, Boolean(keepTtl)];
}

/** `[args, options]`: a plain object at the end of `args` is the options (`{ signal }`). */
function splitOptions(args) {
  const last = args[args.length - 1];
  if (
    args.length > 0 &&
    last !== null &&
    typeof last === 'object' &&
    !Array.isArray(last) &&
    !(last instanceof Uint8Array)
  ) {
    return [args.slice(0, -1), last];
  }
  return [args, undefined];
}

/** The commands that wait for another process to push (Redis's blocking commands). */
const BLOCKING = new Set(['BLPOP', 'BRPOP', 'BLMOVE', 'BRPOPLPUSH', 'BLMPOP', 'BZPOPMIN', 'BZPOPMAX', 'BZMPOP']);

function blocks(name) {
  const text = typeof name === 'string' ? name : name.toString('latin1');
  return text.length <= 10 && BLOCKING.has(text.toUpperCase());
}

function checkSignal(signal) {
  if (signal === undefined) return;
  if (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') {
    throw new TypeError('the signal option is an AbortSignal');
  }
}

/** The arguments of `execute`: strings and Buffers as they are, numbers and bigints as text. */
function commandArgs(args) {
  if (args.length === 1 && Array.isArray(args[0])) args = args[0];
  if (args.length === 0) throw new TypeError('execute needs a command name');
  const out = new Array(args.length);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (typeof a === 'string' || Buffer.isBuffer(a)) out[i] = a;
    else if (typeof a === 'number' || typeof a === 'bigint') out[i] = String(a);
    else if (a instanceof Uint8Array) out[i] = asBuffer(a);
    else throw new TypeError(`argument ${i} of execute is ${describe(a)}: give strings, Buffers or numbers`);
  }
  return out;
}

function increment(by) {
  if (by === undefined) return 1;
  if (typeof by === 'bigint' || Number.isSafeInteger(by)) return by;
  throw new TypeError(`incr takes a whole number or a bigint, not ${String(by)}`);
}

// ---------------------------------------------------------------------------------------
// Transactions.

/**
 * The `tx` of `db.transaction(tx => …)`: reads see its own writes; everything is committed
 * together when the function returns, and rolled back if it throws.
 */
class Transaction {
  constructor(ntx) {
    this._tx = ntx;
  }
  get(k) {
    return call(() => this._tx.get(key(k)));
  }
  set(k, value, opts) {
    const [kind, v] = encode(value, opts ? opts.type : undefined);
    const [at, keep] = expiry(stripType(opts));
    call(() => this._tx.set(key(k), kind, v, at, keep));
  }
  delete(k) {
    return call(() => this._tx.delete(key(k)));
  }
  incr(k, by) {
    return call(() => this._tx.incr(key(k), increment(by)));
  }
  execute(...args) {
    return call(() => this._tx.execute(commandArgs(args)));
  }
  /** Whether the transaction is still open (false after the function returned). */
  get active() {
    return this._tx.active;
  }
}

function stripType(opts) {
  if (!opts || opts.type === undefined) return opts;
  const { type: _type, ...rest } = opts;
  return rest;
}

function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
}

/** Runs `fn(tx)` on an open native transaction; rolls back and rethrows if it throws. */
function runBody(ntx, fn) {
  const tx = new Transaction(ntx);
  let result;
  try {
    result = fn(tx);
  } catch (e) {
    ntx.rollback();
    throw e;
  }
  if (isThenable(result)) {
    ntx.rollback();
    result.then(undefined, () => {}); // ours to report, not an unhandled rejection
    throw new TypeError(
      'a transaction function must be synchronous (it returned a Promise): the transaction ' +
        'holds the writer lock of every process, so it cannot wait for other work; it was ' +
        'rolled back',
    );
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// The database.

class Db {
  constructor(handle) {
    this._db = handle;
    this.async = new AsyncDb(this);
  }

  /** The database directory. */
  get path() {
    return call(() => this._db.path);
  }

  /** Whether `close()` was called. */
  get closed() {
    return this._db.closed;
  }

  /** The value at `key` as its JS type, or null if missing. */
  get(k) {
    k = key(k);
    try {
      return this._db.get(k);
    } catch (e) {
      throw convert(e);
    }
  }

  /** Stores `value` at `key`, its type from the JS value (or `opts.type`). */
  set(k, value, opts) {
    k = key(k);
    const [kind, v] = encode(value, opts ? opts.type : undefined);
    let at;
    let keep = false;
    if (opts !== undefined) [at, keep] = expiry(stripType(opts));
    try {
      this._db.set(k, kind, v, at, keep);
    } catch (e) {
      throw convert(e);
    }
  }

  /** Deletes `key`; true if it existed. */
  delete(k) {
    return call(() => this._db.delete(key(k)));
  }

  /** Adds `by` (default 1) to the integer at `key` (0 if missing); the new value. */
  incr(k, by) {
    return call(() => this._db.incr(key(k), increment(by)));
  }

  /** Runs any command, e.g. `execute('ZADD', 'board', 10, 'ada')`; its reply as JS values. */
  execute(...args) {
    args = commandArgs(args);
    try {
      return this._db.execute(args);
    } catch (e) {
      throw convert(e);
    }
  }

  /**
   * Runs `fn(tx)` in a write transaction: commits when it returns (its return value is
   * returned), rolls back when it throws. `fn` must be synchronous.
   */
  transaction(fn) {
    if (typeof fn !== 'function') throw new TypeError('transaction takes a function');
    const ntx = call(() => this._db.begin());
    const result = runBody(ntx, fn);
    call(() => ntx.commit());
    return result;
  }

  /** Makes every commit so far durable (with `durability: 'batched'`). */
  sync() {
    call(() => this._db.sync());
  }

  /**
   * Publishes `message` (a string or a Buffer) to `channel` for the subscribers of every
   * process on the directory; returns how many subscriptions receive it.
   */
  publish(channel, message) {
    return call(() => this._db.publish(key(channel), payload(message)));
  }

  /**
   * A subscriber (an EventEmitter, as ioredis's subscriber connection): `subscribe`,
   * `psubscribe`, `unsubscribe`, `punsubscribe`, events `message` and `pmessage`.
   */
  pubsub() {
    return new PubSub(this);
  }

  /**
   * Closes the handle; later calls throw ClosedError. Closing twice is allowed. Blocking
   * commands still waiting reject with ClosedError, and the handle's subscribers close.
   */
  close() {
    this._db.close();
  }
}

/**
 * `db.async`: the calls that may wait (the writer lock, an fsync), on the libuv thread pool,
 * as Promises. Reads are there too, for symmetry; they never wait for a writer.
 */
class AsyncDb {
  constructor(db) {
    Object.defineProperty(this, '_db', { value: db });
  }
  _native() {
    return this._db._db;
  }
  get(k) {
    return pool(() => this._native().getAsync(key(k)));
  }
  set(k, value, opts) {
    return pool(() => {
      const [kind, v] = encode(value, opts ? opts.type : undefined);
      const [at, keep] = expiry(stripType(opts));
      return this._native().setAsync(key(k), kind, v, at, keep);
    }).then(() => undefined);
  }
  delete(k) {
    return pool(() => this._native().deleteAsync(key(k)));
  }
  incr(k, by) {
    return pool(() => this._native().incrAsync(key(k), increment(by)));
  }
  /**
   * Any command, as a Promise. A blocking command (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP,
   * BZPOPMIN, BZPOPMAX, BZMPOP) waits on a thread of its own for a push from any process;
   * `{ signal }` as the last argument ends the wait (the promise rejects with an
   * AbortError), and so does closing the db (ClosedError).
   */
  execute(...args) {
    let opts;
    try {
      [args, opts] = splitOptions(args);
      args = commandArgs(args);
    } catch (e) {
      return Promise.reject(e);
    }
    const signal = opts === undefined ? undefined : opts.signal;
    try {
      checkSignal(signal);
    } catch (e) {
      return Promise.reject(e);
    }
    if (signal !== undefined && signal.aborted) return Promise.reject(abortError(signal));
    if (!blocks(args[0])) return pool(() => this._native().executeAsync(args));
    const cancel = new native.NativeCancel();
    const onAbort = () => cancel.cancel();
    if (signal !== undefined) signal.addEventListener('abort', onAbort, { once: true });
    // The handle stays referenced until the command ends: one collected ends its waits.
    const owner = this._db;
    const done = () => {
      if (signal !== undefined) signal.removeEventListener('abort', onAbort);
      return owner;
    };
    let promise;
    try {
      promise = this._native().executeBlocking(args, cancel);
    } catch (e) {
      done();
      return Promise.reject(convert(e));
    }
    return promise.then(
      (v) => {
        done();
        if (v instanceof Error && v.code === 'ABORTED') {
          throw signal !== undefined ? abortError(signal) : new AbortError();
        }
        return settled(v);
      },
      (e) => {
        done();
        throw convert(e);
      },
    );
  }
  /** `db.publish` as a Promise. */
  publish(channel, message) {
    return pool(() => this._native().publishAsync(key(channel), payload(message)));
  }
  sync() {
    return pool(() => this._native().syncAsync()).then(() => undefined);
  }
  /**
   * `db.transaction` with the wait for the writer lock and the commit (its fsync) on the
   * thread pool. `fn` itself runs on this thread and must be synchronous.
   */
  async transaction(fn) {
    if (typeof fn !== 'function') throw new TypeError('transaction takes a function');
    const ntx = await pool(() => this._native().beginAsync());
    const result = runBody(ntx, fn);
    await fromPool(ntx.commitAsync());
    return result;
  }
}

// ---------------------------------------------------------------------------------------
// Pub/Sub.

/** A message of `publish`: a string (its UTF-8 bytes) or bytes. */
function payload(m) {
  if (typeof m === 'string' || Buffer.isBuffer(m)) return m;
  if (m instanceof Uint8Array) return asBuffer(m);
  throw new TypeError(`a message is a string or a Buffer, not ${describe(m)}`);
}

const OP = Object.freeze({ subscribe: 0, psubscribe: 1, unsubscribe: 2, punsubscribe: 3 });
const EVENT = Object.freeze({ message: 0, pmessage: 1, done: 2, failed: 3, error: 4, closed: 5 });

/** How many messages an async iterator holds for a consumer that has not taken them. */
const ITERATOR_BUFFER = 10_000;

/**
 * A subscriber: `db.pubsub()`. Its subscriptions live on a thread of its own, which waits
 * for messages from any process and hands them to this thread: the event loop never waits.
 *
 * Events, as ioredis names them: `message` (channel, message) and `pmessage` (pattern,
 * channel, message) with strings; `messageBuffer` and `pmessageBuffer` with Buffers (the
 * bytes as published); `error` (SubscriberOverrunError: it fell further behind than the
 * shared ring holds, and is no longer subscribed); `close`.
 */
class PubSub extends EventEmitter {
  constructor(db) {
    super();
    this._pending = new Map();
    this._next = 1;
    this._iterators = new Set();
    this._closing = null;
    this._closed = false;
    this._count = 0;
    // Referenced while the subscriber lives: a handle collected ends its subscribers.
    this._db = db;
    this._native = call(() => db._db.subscriber(this._event.bind(this)));
  }

  /** Subscribes to channels; resolves with the number of subscriptions. */
  subscribe(...channels) {
    return this._command('subscribe', channels, true);
  }

  /** Subscribes to the channels matching glob-style patterns (`news.*`). */
  psubscribe(...patterns) {
    return this._command('psubscribe', patterns, true);
  }

  /** Unsubscribes from channels, or from every channel if none is named. */
  unsubscribe(...channels) {
    return this._command('unsubscribe', channels, false);
  }

  /** Unsubscribes from patterns, or from every pattern if none is named. */
  punsubscribe(...patterns) {
    return this._command('punsubscribe', patterns, false);
  }

  /** The number of channels and patterns subscribed to. */
  get subscriptionCount() {
    return this._count;
  }

  /** Whether `close()` was called (or the db closed). */
  get closed() {
    return this._closing !== null || this._closed;
  }

  /**
   * Ends every subscription and the subscriber's thread; resolves once they are gone (in
   * every process's count). Commands still queued reject with ClosedError.
   */
  close() {
    if (this._closing === null) {
      this._closing = new Promise((resolve) => {
        if (this._closed) resolve();
        else this.once('close', resolve);
      });
      this._native.close();
    }
    return this._closing;
  }

  /**
   * `for await (const m of sub)`: each message as `{ type: 'message' | 'pmessage',
   * pattern, channel, message, buffer }` (strings; `buffer` is the message's bytes), until
   * the subscriber closes. Leaving the loop does not unsubscribe.
   */
  [Symbol.asyncIterator]() {
    const queue = [];
    const waiting = [];
    let failure = null;
    let done = false;
    const it = {
      push: (m) => {
        if (done) return;
        if (waiting.length > 0) waiting.shift().resolve({ value: m, done: false });
        else if (queue.length >= ITERATOR_BUFFER) {
          it.fail(
            new errors.SubscriberOverrunError(
              `the async iterator holds ${ITERATOR_BUFFER} messages not taken yet; it ends here`,
            ),
          );
        } else queue.push(m);
      },
      fail: (e) => {
        if (done) return;
        failure = e;
        it.end();
      },
      end: () => {
        if (done) return;
        done = true;
        this._iterators.delete(it);
        for (const w of waiting.splice(0)) {
          if (failure !== null && queue.length === 0) {
            w.reject(failure);
            failure = null;
          } else w.resolve({ value: undefined, done: true });
        }
      },
    };
    if (this._closed) it.end();
    else this._iterators.add(it);
    return {
      next: () => {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift(), done: false });
        if (failure !== null) {
          const e = failure;
          failure = null;
          return Promise.reject(e);
        }
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
      },
      return: () => {
        queue.length = 0;
        it.end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  _command(name, names, needsOne) {
    let cb;
    if (names.length > 0 && typeof names[names.length - 1] === 'function') cb = names.pop();
    if (names.length === 1 && Array.isArray(names[0])) names = names[0];
    const promise = new Promise((resolve, reject) => {
      if (needsOne && names.length === 0) {
        throw new TypeError(`${name} needs at least one ${name === 'psubscribe' ? 'pattern' : 'channel'}`);
      }
      const args = names.map((n) => {
        if (typeof n === 'string' || Buffer.isBuffer(n)) return n;
        if (n instanceof Uint8Array) return asBuffer(n);
        throw new TypeError(`a channel or pattern is a string or a Buffer, not ${describe(n)}`);
      });
      if (this._closing !== null || this._closed) throw new errors.ClosedError('the subscriber is closed');
      const id = this._next++;
      if (this._next > 0xffff_ffff) this._next = 1;
      this._pending.set(id, { resolve, reject });
      try {
        this._native.command(id, OP[name], args);
      } catch (e) {
        this._pending.delete(id);
        throw convert(e);
      }
    });
    if (cb !== undefined) promise.then((n) => cb(null, n), (e) => cb(e));
    return promise;
  }

  _event(kind, id, n, a, b, c, code, text) {
    switch (kind) {
      case EVENT.message: {
        if (this.listenerCount('messageBuffer') > 0) this.emit('messageBuffer', a, b);
        const channel = a.toString();
        const message = b.toString();
        this.emit('message', channel, message);
        for (const it of this._iterators) it.push({ type: 'message', pattern: null, channel, message, buffer: b });
        break;
      }
      case EVENT.pmessage: {
        if (this.listenerCount('pmessageBuffer') > 0) this.emit('pmessageBuffer', c, a, b);
        const pattern = c.toString();
        const channel = a.toString();
        const message = b.toString();
        this.emit('pmessage', pattern, channel, message);
        for (const it of this._iterators) it.push({ type: 'pmessage', pattern, channel, message, buffer: b });
        break;
      }
      case EVENT.done:
      case EVENT.failed: {
        const p = this._pending.get(id);
        if (p === undefined) break;
        this._pending.delete(id);
        if (kind === EVENT.done) {
          this._count = n;
          p.resolve(n);
        } else p.reject(convert({ code, message: text }));
        break;
      }
      case EVENT.error: {
        this._count = 0;
        const e = convert({ code, message: text });
        for (const it of this._iterators) it.fail(e);
        this.emit('error', e);
        break;
      }
      case EVENT.closed: {
        this._closed = true;
        this._count = 0;
        for (const p of this._pending.values()) p.reject(new errors.ClosedError('the subscriber is closed'));
        this._pending.clear();
        for (const it of this._iterators) it.end();
        this.emit('close');
        break;
      }
      default:
        break;
    }
  }
}

/** A native async call as a promise; a failure to start it rejects too. */
function pool(start) {
  let promise;
  try {
    promise = start();
  } catch (e) {
    return Promise.reject(convert(e));
  }
  return fromPool(promise);
}

/**
 * Opens (creating if missing) the database in directory `path`.
 * Options: durability ('immediate' | 'batched'), batchDelayMs, lockTimeoutMs, segmentSize,
 * autoCompact, activeExpiryMs, readOnly, mode, strings (execute replies bulk as strings).
 */
function open(dir, opts) {
  if (typeof dir !== 'string') {
    if (dir instanceof URL) dir = require('node:url').fileURLToPath(dir);
    else throw new TypeError('open takes a directory path');
  }
  if (opts !== undefined && (opts === null || typeof opts !== 'object')) {
    throw new TypeError('the options of open are an object');
  }
  return new Db(call(() => native.open(dir, opts)));
}

module.exports = {
  open,
  float,
  Db,
  AsyncDb,
  PubSub,
  Transaction,
  Float,
  AbortError,
  ERROR_CODES,
  ...errors,
};
