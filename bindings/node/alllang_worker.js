#!/usr/bin/env node
'use strict';
// The Node.js worker of the all-languages test: `node alllang_worker.js DIR NAME PEERS`.
// Writes this language's typed values, increments the shared counters, appends to a list in
// transactions, waits for every peer, then checks every peer's typed values through the
// binding's typed API. Prints `NAME ok` and exits 0, or one line per problem on stderr and
// exits 1.

const ziggydb = require('./index.js');

const TIMESTAMP_MS = 1767225600123;
const BYTES = Buffer.from([0x7a, 0x69, 0x67, 0x00, 0x67, 0x79, 0xff]);

function jsonDoc(lang) {
  return { lang, list: [1, 2.5, null, true, 'x'] };
}

function show(v) {
  if (Buffer.isBuffer(v)) return `Buffer<${v.toString('hex')}>`;
  if (v instanceof Date) return `Date(${v.getTime()})`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return `${typeof v} ${String(v)}`;
}

function sameJson(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
}

/** [kind, expected (shown), check(value) → true when right]. */
function expectations(peer) {
  const bits = (x) => Buffer.from(new Float64Array([x]).buffer).toString('hex');
  return [
    ['int', '-9007199254740993n', (v) => typeof v === 'bigint' && v === -9007199254740993n],
    ['float', '0.1 (bit for bit)', (v) => typeof v === 'number' && bits(v) === bits(0.1)],
    ['bool', 'true', (v) => v === true],
    ['timestamp', `Date(${TIMESTAMP_MS})`, (v) => v instanceof Date && v.getTime() === TIMESTAMP_MS],
    ['json', JSON.stringify(jsonDoc(peer)), (v) => sameJson(v, jsonDoc(peer))],
    ['bytes', `Buffer<${BYTES.toString('hex')}>`, (v) => Buffer.isBuffer(v) && v.equals(BYTES)],
    ['string', JSON.stringify(`ziggy ✓ ${peer}`), (v) => v === `ziggy ✓ ${peer}`],
  ];
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function main(argv) {
  if (argv.length !== 3) {
    process.stderr.write('usage: alllang_worker.js DIR NAME PEERS\n');
    return 2;
  }
  const [dir, name, peerList] = argv;
  const peers = peerList.split(',').filter((p) => p.length > 0);
  const problems = [];

  // 1. Open with default options.
  const db = ziggydb.open(dir);

  // 2. Typed values, each its own commit.
  const k = (kind) => `typed:${name}:${kind}`;
  db.set(k('int'), -9007199254740993n);
  db.set(k('float'), 0.1);
  db.set(k('bool'), true);
  db.set(k('timestamp'), new Date(TIMESTAMP_MS));
  db.set(k('json'), jsonDoc(name));
  db.set(k('bytes'), BYTES);
  db.set(k('string'), `ziggy ✓ ${name}`);

  // 3, 4. The counters.
  db.incr('all:ready', 1);
  for (let i = 0; i < 500; i++) db.incr('all:counter', 1);

  // 5. One transaction per list entry.
  for (let i = 0; i < 100; i++) {
    db.transaction((tx) => {
      tx.execute('RPUSH', 'all:list', `${name}:${i}`);
    });
  }

  // 6. Wait for every peer.
  db.incr('all:done', 1);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const done = db.get('all:done');
    if (done !== null && Number(done) >= peers.length) break;
    if (Date.now() > deadline) {
      problems.push('timed out waiting for peers');
      break;
    }
    sleep(10);
  }

  // 7. Every peer's typed values.
  if (problems.length === 0) {
    for (const peer of peers) {
      for (const [kind, expected, ok] of expectations(peer)) {
        let got;
        try {
          got = db.get(`typed:${peer}:${kind}`);
        } catch (e) {
          problems.push(`${peer} ${kind}: expected ${expected}, reading it failed: ${e.name}: ${e.message}`);
          continue;
        }
        if (!ok(got)) problems.push(`${peer} ${kind}: expected ${expected}, read ${got === null ? 'nothing' : show(got)}`);
      }
    }
  }

  // 8. Close and report.
  db.close();
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`${p}\n`);
    return 1;
  }
  process.stdout.write(`${name} ok\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`${e && e.name ? e.name : 'Error'}: ${e && e.message ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
