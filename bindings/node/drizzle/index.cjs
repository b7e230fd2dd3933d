'use strict';
// CommonJS entry of `ziggydb/drizzle`: the cache class on the CommonJS build of drizzle-orm.
const { Cache } = require('drizzle-orm/cache/core');
const { entityKind, is, Table, OriginalName } = require('drizzle-orm');
const { makeZiggyCache } = require('./core.cjs');

const ZiggyCache = makeZiggyCache({
  Cache,
  entityKind,
  is,
  Table,
  OriginalName,
  open: (path, options) => require('..').open(path, options),
});

/** `ziggyCache(pathOrDb, options)`: the same as `new ZiggyCache(pathOrDb, options)`. */
function ziggyCache(pathOrDb, options) {
  return new ZiggyCache(pathOrDb, options);
}

module.exports = { ZiggyCache, ziggyCache };
