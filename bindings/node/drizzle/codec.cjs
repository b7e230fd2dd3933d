'use strict';
// How a cached query response is stored: JSON text, with the values JSON cannot carry tagged
// so that a response read back from the cache is the response Drizzle put there.
//
// Drizzle caches what the driver returned before it maps rows to objects: for libsql that is
// an array of `Row`s (array-like objects whose indices and `length` are not enumerable, with
// one enumerable property per column), blobs as `ArrayBuffer`s and, in `intMode: 'bigint'`,
// bigints. Plain `JSON.stringify` (what Upstash's client does) turns a `Row` into an object
// without indices, so Drizzle's `Array.prototype.slice.call(row)` maps it to an empty row, and
// it throws on bigints and loses blobs. Each tag below is an object with one key starting `~z`:
//
//   {"~zr": [[v0, v1, ...], ["col0", null, ...]]}  a libsql Row: its values, and the column
//                       each value is also named by (null: none, as for a repeated column name)
//   {"~zR": [[v0, v1, ...], {"col": v, ...}]}       an array-like object of another shape
//   {"~zA": "base64"}   ArrayBuffer            {"~zB": "base64"}  Buffer
//   {"~zT": ["Uint8Array", "base64"]}          any other typed array or DataView
//   {"~zi": "123"}      bigint                 {"~zd": 1700000000000 | "NaN"}  Date
//   {"~zn": "NaN" | "Infinity" | "-Infinity" | "-0"}                         number
//   {"~zu": 1}          undefined (in arrays and objects, where JSON would drop or null it)
//   {"~zo": {...}}      a plain object that has a key starting with "~z" itself (escaped)
//
// Other objects are stored the way JSON.stringify stores them (`toJSON()` when they have one,
// else their own enumerable properties).
//
// A Row read back is an instance of a class per column count whose indices and `length` are
// getters on the prototype (libsql defines them on each row; ten times slower to build), with
// the named columns as its own enumerable properties: `row[0]`, `row.length`,
// `Array.prototype.slice.call(row)` (what Drizzle uses), `Object.keys`, spreading and JSON
// see what they see on a libsql Row.

const TYPED = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

function b64(view) {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
}

/** The base of the rows `decode` makes; the values are private, the indices getters. */
class RowBase {
  #values;
  constructor(values) {
    this.#values = values;
  }
  static valuesOf(row) {
    return row.#values;
  }
  get length() {
    return this.#values.length;
  }
}

const rowClasses = [];

function rowClass(n) {
  let C = rowClasses[n];
  if (C !== undefined) return C;
  C = class Row extends RowBase {};
  for (let i = 0; i < n; i++) {
    Object.defineProperty(C.prototype, i, {
      get() {
        return RowBase.valuesOf(this)[i];
      },
    });
  }
  rowClasses[n] = C;
  return C;
}

function isRow(v) {
  if (Array.isArray(v)) return false;
  if (v instanceof RowBase) return true;
  const d = Object.getOwnPropertyDescriptor(v, 'length');
  return d !== undefined && !d.enumerable && Number.isSafeInteger(d.value) && d.value >= 0;
}

/**
 * The column naming each index of `row`, as libsql's columns would: its named properties in
 * order, each at the next index holding the same value; null where the shape is not that.
 */
function rowNames(row, n) {
  const names = new Array(n).fill(null);
  let i = 0;
  for (const k of Object.keys(row)) {
    const v = row[k];
    while (i < n && !Object.is(row[i], v)) i++;
    if (i === n) return null;
    names[i++] = k;
  }
  return names;
}

function hasTagKey(obj) {
  for (const k in obj) {
    if (k.length >= 2 && k.charCodeAt(0) === 126 /* ~ */ && k.charCodeAt(1) === 122 /* z */) {
      return true;
    }
  }
  return false;
}

function encodeObject(obj) {
  const out = {};
  for (const k of Object.keys(obj)) out[k] = toJson(obj[k]);
  return out;
}

function toJson(v) {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (Number.isFinite(v)) return Object.is(v, -0) ? { '~zn': '-0' } : v;
      return { '~zn': String(v) };
    case 'bigint':
      return { '~zi': v.toString() };
    case 'undefined':
      return { '~zu': 1 };
    case 'object':
      break;
    default:
      // functions and symbols are not query results; store what JSON would (nothing)
      return { '~zu': 1 };
  }
  if (v === null) return null;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = toJson(v[i]);
    return out;
  }
  if (Buffer.isBuffer(v)) return { '~zB': b64(v) };
  if (v instanceof ArrayBuffer) return { '~zA': Buffer.from(v).toString('base64') };
  if (ArrayBuffer.isView(v)) return { '~zT': [v.constructor.name, b64(v)] };
  if (v instanceof Date) {
    const t = v.getTime();
    return { '~zd': Number.isNaN(t) ? 'NaN' : t };
  }
  if (isRow(v)) {
    const n = v.length;
    const items = new Array(n);
    for (let i = 0; i < n; i++) items[i] = toJson(v[i]);
    const names = rowNames(v, n);
    return names === null ? { '~zR': [items, encodeObject(v)] } : { '~zr': [items, names] };
  }
  if (typeof v.toJSON === 'function') return toJson(v.toJSON());
  const enc = encodeObject(v);
  return hasTagKey(v) ? { '~zo': enc } : enc;
}

function makeRow(items, names) {
  if (!Array.isArray(names) || names.length !== items.length) {
    throw new Error('ZiggyCache: malformed ~zr in a cached value');
  }
  const row = new (rowClass(items.length))(items);
  for (let i = 0; i < names.length; i++) {
    if (names[i] !== null) row[names[i]] = items[i];
  }
  return row;
}

function makeArrayLike(items, named) {
  const row = {};
  for (let i = 0; i < items.length; i++) {
    Object.defineProperty(row, i, { value: items[i], enumerable: false });
  }
  Object.defineProperty(row, 'length', { value: items.length, enumerable: false });
  Object.assign(row, named);
  return row;
}

function fromBase64(s) {
  return Buffer.from(s, 'base64');
}

function decodeObject(obj) {
  const out = {};
  for (const k of Object.keys(obj)) out[k] = fromJson(obj[k]);
  return out;
}

function pair(x) {
  return Array.isArray(x) && x.length === 2 && (typeof x[0] === 'string' || Array.isArray(x[0]));
}

function fromJson(v) {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = fromJson(v[i]);
    return out;
  }
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0].startsWith('~z')) {
    const x = v[keys[0]];
    if ((keys[0] === '~zr' || keys[0] === '~zR' || keys[0] === '~zT') && !pair(x)) {
      throw new Error(`ZiggyCache: malformed ${keys[0]} in a cached value`);
    }
    switch (keys[0]) {
      case '~zr':
        return makeRow(x[0].map(fromJson), x[1]);
      case '~zR':
        return makeArrayLike(x[0].map(fromJson), decodeObject(x[1]));
      case '~zA': {
        const b = fromBase64(x);
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
      }
      case '~zB':
        return fromBase64(x);
      case '~zT': {
        const b = fromBase64(x[1]);
        const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
        if (x[0] === 'DataView') return new DataView(ab);
        const Ctor = TYPED[x[0]];
        if (Ctor === undefined) throw new Error(`ZiggyCache: unknown typed array ${x[0]} in a cached value`);
        return new Ctor(ab);
      }
      case '~zi':
        return BigInt(x);
      case '~zd':
        return new Date(x === 'NaN' ? NaN : x);
      case '~zn':
        return x === '-0' ? -0 : Number(x);
      case '~zu':
        return undefined;
      case '~zo':
        return decodeObject(x);
      default:
        throw new Error(`ZiggyCache: unknown tag ${keys[0]} in a cached value`);
    }
  }
  return decodeObject(v);
}

/** The text stored for a query response. */
function encode(value) {
  return JSON.stringify(toJson(value));
}

/** The query response stored as `text` (a string or a Buffer of UTF-8). */
function decode(text) {
  return fromJson(JSON.parse(typeof text === 'string' ? text : text.toString('utf8')));
}

module.exports = { encode, decode };
