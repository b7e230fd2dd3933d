// ESM entry of `ziggydb/drizzle`: the cache class on the ESM build of drizzle-orm.
import { createRequire } from 'node:module';
import { Cache } from 'drizzle-orm/cache/core';
import { entityKind, is, Table, OriginalName } from 'drizzle-orm';
import core from './core.cjs';

const require = createRequire(import.meta.url);

export const ZiggyCache = core.makeZiggyCache({
  Cache,
  entityKind,
  is,
  Table,
  OriginalName,
  open: (path, options) => require('..').open(path, options),
});

/** `ziggyCache(pathOrDb, options)`: the same as `new ZiggyCache(pathOrDb, options)`. */
export function ziggyCache(pathOrDb, options) {
  return new ZiggyCache(pathOrDb, options);
}
