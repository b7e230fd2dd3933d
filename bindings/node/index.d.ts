/// <reference types="node" />
import { EventEmitter } from 'node:events';
// Types of the `ziggydb` package (index.js over the native module).

/** A key: a string (stored as its UTF-8 bytes) or bytes. */
export type Key = string | Buffer | Uint8Array;

/** Any JSON value (what a JSON value reads back as). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * What `get` returns: a Buffer (bytes), a string, a number (int or float; an int beyond
 * 2^53 is a bigint), a boolean, a Date (timestamp), a parsed JSON value, or null when the
 * key is missing.
 */
export type Value = Buffer | string | number | bigint | boolean | Date | Json;

/** What `set` takes: the type stored is chosen from the JS value (see `SetOptions.type`). */
export type ValueInput =
  | Buffer
  | Uint8Array
  | string
  | number
  | bigint
  | boolean
  | Date
  | Float
  | object;

/** The stored types, for `SetOptions.type`. */
export type ValueTypeName = 'bytes' | 'string' | 'int' | 'float' | 'bool' | 'timestamp' | 'json';

export interface SetOptions {
  /** Expire in this many seconds. */
  ex?: number;
  /** Expire in this many milliseconds. */
  px?: number;
  /** Expire at this Unix time, in seconds. */
  exat?: number;
  /** Expire at this Unix time, in milliseconds. */
  pxat?: number;
  /** Keep the key's current expiry time (by default a set removes it). */
  keepTtl?: boolean;
  /**
   * Store as this type instead of the one the JS value picks: e.g. `'float'` for a whole
   * number, `'json'` for JSON text given as a string, `'bytes'` for a string's UTF-8 bytes.
   */
  type?: ValueTypeName;
}

export interface OpenOptions {
  /**
   * `'immediate'` (default): a write returns once it is on disk. `'batched'`: once every
   * process sees it; it reaches disk at most `batchDelayMs` later.
   */
  durability?: 'immediate' | 'batched';
  /** With `'batched'`: the longest time from a commit to its fsync, in ms (default 50). */
  batchDelayMs?: number;
  /** How long a write waits for another writer before BusyError, in ms (default 10000; negative: forever). */
  lockTimeoutMs?: number;
  /** Size of a new segment file in bytes (default 64 MiB); a value must fit in one. */
  segmentSize?: number;
  /** Compact in a background thread (default true). */
  autoCompact?: boolean;
  /** How often expired keys are deleted, in ms (default 100; negative: never). */
  activeExpiryMs?: number;
  /** Open read-only: every write throws ReadOnlyError. */
  readOnly?: boolean;
  /** File mode of a new database, e.g. 0o600 (default) or 0o660. */
  mode?: number;
  /** `execute` replies bulk strings as strings (UTF-8) instead of Buffers. */
  strings?: boolean;
}

/** An argument of `execute`: numbers and bigints are sent as their decimal text. */
export type Arg = string | Buffer | Uint8Array | number | bigint;

/**
 * A reply of `execute`: integers as numbers (bigints beyond 2^53), bulk strings as Buffers
 * (strings with `{ strings: true }`), status replies as strings, arrays and sets as arrays,
 * maps (HGETALL) as objects, doubles (ZSCORE) as numbers, nil as null. An error reply is
 * thrown as a ReplyError.
 */
export type Reply = null | number | bigint | string | Buffer | boolean | Reply[] | { [field: string]: Reply };

/** The `tx` of `db.transaction(tx => …)`; reads see the transaction's own writes. */
export declare class Transaction {
  get(key: Key): Value | null;
  set(key: Key, value: ValueInput, opts?: SetOptions): void;
  delete(key: Key): boolean;
  incr(key: Key, by?: number | bigint): number | bigint;
  /** Any data command inside the transaction, e.g. `tx.execute('RPUSH', 'jobs', 'a')`. */
  execute(...args: Arg[]): Reply;
  /** Whether the transaction is still open. */
  readonly active: boolean;
}

/** An open database. */
export declare class Db {
  private constructor();
  /** The database directory. */
  readonly path: string;
  /** Whether `close()` was called. */
  readonly closed: boolean;
  /** The calls that may wait, as Promises run on the libuv thread pool. */
  readonly async: AsyncDb;
  get(key: Key): Value | null;
  set(key: Key, value: ValueInput, opts?: SetOptions): void;
  /** True if the key existed. */
  delete(key: Key): boolean;
  /** Adds `by` (default 1) to the int at `key` (0 if missing); the new value. */
  incr(key: Key, by?: number | bigint): number | bigint;
  execute(...args: Arg[]): Reply;
  /**
   * Runs `fn` in a write transaction: committed when it returns, rolled back when it throws.
   * `fn` must be synchronous.
   */
  transaction<T>(fn: (tx: Transaction) => T): T;
  /** Makes every commit so far durable (with `durability: 'batched'`). */
  sync(): void;
  /**
   * Publishes `message` to `channel` for the subscribers of every process on the directory;
   * the number of subscriptions that receive it.
   */
  publish(channel: Key, message: string | Buffer | Uint8Array): number;
  /** A subscriber with a thread of its own (see `PubSub`). */
  pubsub(): PubSub;
  /**
   * Closes the handle; later calls throw ClosedError. Blocking commands still waiting
   * reject with ClosedError, and the handle's subscribers close.
   */
  close(): void;
}

/** The options of `db.async.execute`, given as its last argument. */
export interface ExecuteOptions {
  /** Ends a blocking command's wait: the promise rejects with an AbortError. */
  signal?: AbortSignal;
}

/** A message as the async iterator of `PubSub` yields it. */
export interface PubSubMessage {
  type: 'message' | 'pmessage';
  /** The pattern it matched, for a `psubscribe`; null for a `subscribe`. */
  pattern: string | null;
  channel: string;
  /** The message as UTF-8 text. */
  message: string;
  /** The message's bytes, as published. */
  buffer: Buffer;
}

/**
 * A subscriber (`db.pubsub()`): receives the messages published to its channels and
 * patterns by any process on the directory. The commands resolve with the number of
 * subscriptions (channels and patterns) once they are in effect.
 */
export declare class PubSub extends EventEmitter {
  private constructor();
  subscribe(...channels: Array<Key | ((err: Error | null, count?: number) => void)>): Promise<number>;
  psubscribe(...patterns: Array<Key | ((err: Error | null, count?: number) => void)>): Promise<number>;
  /** Unsubscribes from the channels named, or from every channel. */
  unsubscribe(...channels: Array<Key | ((err: Error | null, count?: number) => void)>): Promise<number>;
  /** Unsubscribes from the patterns named, or from every pattern. */
  punsubscribe(...patterns: Array<Key | ((err: Error | null, count?: number) => void)>): Promise<number>;
  /** Channels and patterns subscribed to. */
  readonly subscriptionCount: number;
  readonly closed: boolean;
  /** Ends every subscription and the subscriber's thread; resolves once they are gone. */
  close(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterableIterator<PubSubMessage>;

  on(event: 'message', listener: (channel: string, message: string) => void): this;
  on(event: 'pmessage', listener: (pattern: string, channel: string, message: string) => void): this;
  on(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): this;
  on(event: 'pmessageBuffer', listener: (pattern: Buffer, channel: Buffer, message: Buffer) => void): this;
  on(event: 'error', listener: (err: ZiggyError) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'message', listener: (channel: string, message: string) => void): this;
  once(event: 'pmessage', listener: (pattern: string, channel: string, message: string) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** `db.async`: the same calls, run on the libuv thread pool. */
export declare class AsyncDb {
  private constructor();
  get(key: Key): Promise<Value | null>;
  set(key: Key, value: ValueInput, opts?: SetOptions): Promise<void>;
  delete(key: Key): Promise<boolean>;
  incr(key: Key, by?: number | bigint): Promise<number | bigint>;
  /**
   * Any command. A blocking command (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
   * BZPOPMAX, BZMPOP) waits on a thread of its own until any process pushes or its timeout;
   * `{ signal }` as the last argument ends the wait with an AbortError.
   */
  execute(...args: [...Arg[], ExecuteOptions] | Arg[]): Promise<Reply>;
  publish(channel: Key, message: string | Buffer | Uint8Array): Promise<number>;
  /** The wait for the writer lock and the commit run on the pool; `fn` runs on this thread. */
  transaction<T>(fn: (tx: Transaction) => T): Promise<T>;
  sync(): Promise<void>;
}

/** A number stored as a float even when it is whole: `db.set('k', float(3))`. */
export declare class Float {
  private constructor();
  readonly value: number;
}
export declare function float(value: number): Float;

/** Opens (creating if missing) the database in directory `path`. */
export declare function open(path: string | URL, opts?: OpenOptions): Db;

/** The library's stable error codes: name → number (`errno` of the error). */
export declare const ERROR_CODES: Readonly<Record<string, number>>;

/** Every error of the binding. `code` is the library's stable name, e.g. `'WRONG_TYPE'`. */
export declare class ZiggyError extends Error {
  readonly code: string;
  /** The library's numeric code, for the library's errors. */
  readonly errno?: number;
}
/** An error reply of `execute` (`code` is `'REPLY_ERROR'`); `prefix` is its first word (`WRONGTYPE`, `ERR`). */
export declare class ReplyError extends ZiggyError {
  readonly prefix: string;
}
/** A call ended by its AbortSignal: `name` `'AbortError'`, `code` `'ABORT_ERR'`, the signal's reason as `cause`. */
export declare class AbortError extends Error {
  readonly code: 'ABORT_ERR';
}
/** A call on a closed database or an ended transaction (`'CLOSED'`). */
export declare class ClosedError extends ZiggyError {}
/** A failure inside the binding (`'INTERNAL'`). */
export declare class InternalError extends ZiggyError {}
export declare class IoError extends ZiggyError {}
export declare class PermissionDeniedError extends ZiggyError {}
export declare class DiskFullError extends ZiggyError {}
export declare class CompactNeedsSpaceError extends ZiggyError {}
export declare class ReadOnlyFileSystemError extends ZiggyError {}
export declare class OutOfMemoryError extends ZiggyError {}
export declare class CorruptWalError extends ZiggyError {}
export declare class ChecksumMismatchError extends ZiggyError {}
export declare class CorruptSegmentError extends ZiggyError {}
export declare class CorruptIndexError extends ZiggyError {}
export declare class CorruptManifestError extends ZiggyError {}
export declare class CorruptShmError extends ZiggyError {}
export declare class CorruptCollectionError extends ZiggyError {}
export declare class CorruptValueError extends ZiggyError {}
export declare class ManifestMissingError extends ZiggyError {}
export declare class NeedsRecoveryError extends ZiggyError {}
export declare class NotADatabaseError extends ZiggyError {}
export declare class NotADirectoryError extends ZiggyError {}
export declare class IncompatibleVersionError extends ZiggyError {}
export declare class SymlinkError extends ZiggyError {}
export declare class NotRegularFileError extends ZiggyError {}
export declare class ModeMismatchError extends ZiggyError {}
export declare class OptionsMismatchError extends ZiggyError {}
export declare class OpenReadWriteError extends ZiggyError {}
export declare class InUseError extends ZiggyError {}
export declare class BusyError extends ZiggyError {}
export declare class PoisonedError extends ZiggyError {}
export declare class ReadOnlyError extends ZiggyError {}
export declare class ForkedError extends ZiggyError {}
export declare class TxnActiveError extends ZiggyError {}
export declare class SubscriberOverrunError extends ZiggyError {}
export declare class SnapshotTooOldError extends ZiggyError {}
export declare class InvalidArgumentError extends ZiggyError {}
export declare class KeyTooLargeError extends ZiggyError {}
export declare class ValueTooLargeError extends ZiggyError {}
export declare class BadImportLineError extends ZiggyError {}
export declare class WrongTypeError extends ZiggyError {}
export declare class NotAnIntegerError extends ZiggyError {}
export declare class NotAFloatError extends ZiggyError {}
export declare class OverflowError extends ZiggyError {}
export declare class InvalidJsonError extends ZiggyError {}
export declare class NoSuchKeyError extends ZiggyError {}
export declare class IndexOutOfRangeError extends ZiggyError {}
