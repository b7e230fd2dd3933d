import { Cache } from 'drizzle-orm/cache/core';
import type { CacheConfig } from 'drizzle-orm/cache/core/types';
import type { MutationOption } from 'drizzle-orm/cache/core';

/** The handle `open()` of `ziggydb` returns, as far as the cache uses it. */
export interface ZiggyDbLike {
  get(key: string): unknown;
  execute(...args: Array<string | Buffer | number>): unknown;
  transaction<T>(fn: (tx: { execute(...args: Array<string | Buffer | number>): unknown }) => T): T;
  close(): void;
}

export interface ZiggyCacheOptions {
  /** Cache every select ('all'), not only those with `$withCache()` ('explicit'). Default false. */
  global?: boolean;
  /**
   * The expiry of responses whose query gives none: one of ex / px / exat / pxat / keepTtl,
   * and optionally hexOptions (NX, XX, GT, LT). Default: { ex: 1 }, as Drizzle's Upstash cache.
   */
  config?: CacheConfig;
  /** Prepended to every key the cache writes. Default 'drizzle:'. */
  prefix?: string;
  /** When the cache opens the database from a path: its durability. Default 'batched'. */
  durability?: 'immediate' | 'batched';
}

/** A Drizzle ORM cache that every process opening the same ZiggyDB directory shares. */
export declare class ZiggyCache extends Cache {
  /** @param pathOrDb a database directory (opened and closed by the cache) or an open database */
  constructor(pathOrDb: string | ZiggyDbLike, options?: ZiggyCacheOptions);
  /** The database the cache uses. */
  readonly db: ZiggyDbLike;
  strategy(): 'explicit' | 'all';
  get(key: string, tables: string[], isTag?: boolean, isAutoInvalidate?: boolean): Promise<any[] | undefined>;
  put(key: string, response: any, tables: string[], isTag?: boolean, config?: CacheConfig): Promise<void>;
  onMutate(params: MutationOption): Promise<void>;
  /** Closes the database if the cache opened it from a path; a database passed in stays open. */
  close(): void;
}

/** The same as `new ZiggyCache(pathOrDb, options)`. */
export declare function ziggyCache(pathOrDb: string | ZiggyDbLike, options?: ZiggyCacheOptions): ZiggyCache;
