#!/usr/bin/env node
'use strict';
// Per-call time of the binding's get, set and execute('GET') against the same calls made
// directly on the Rust library (examples/rust_baseline.rs): `node bench.js [--quick]`.
//
// Both sides open a fresh database with batched durability (so that a set times the commit
// path, not the disk's fsync), store the 16-byte string "0123456789abcdef" at `bench:key`,
// and time rounds of 2000 calls of each operation, keeping each side's best round (Node and
// Rust taking turns, so that both see the load of the moment):
//   get            Node: db.get(key) → a JS string     Rust: Db::get_value → Value::String
//   set            Node: db.set(key, 16-byte string)   Rust: Db::set(key, &str)
//   execute GET    Node: db.execute('GET', key) → Buffer  Rust: Session::execute([GET, key])
// plus, Node only: db.async.get awaited one at a time (a round trip through the thread
// pool) and set with immediate durability (an fsync per call, shared by nobody).
// The Rust baseline is built with cargo (release) unless ZIGGYDB_RUST_BASELINE names it.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const ziggydb = require('./index.js');

const quick = process.argv.includes('--quick');
// Many short rounds: on a loaded machine a round that the scheduler did not interrupt shows
// the call's own cost, and the best round of each side is compared.
const N = 2_000;
const ROUNDS = quick ? 30 : 300;
const TURNS = quick ? 2 : 5;
const VALUE = '0123456789abcdef';
const KEY = 'bench:key';

function best(n, rounds, fn) {
  let bestNs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn(i);
    const ns = Number(process.hrtime.bigint() - t) / n;
    if (ns < bestNs) bestNs = ns;
  }
  return bestNs;
}

async function bestAsync(n, rounds, fn) {
  let bestNs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn(i);
    const ns = Number(process.hrtime.bigint() - t) / n;
    if (ns < bestNs) bestNs = ns;
  }
  return bestNs;
}

function rustBaseline() {
  if (process.env.ZIGGYDB_RUST_BASELINE) return process.env.ZIGGYDB_RUST_BASELINE;
  const r = spawnSync(
    'cargo',
    ['build', '--release', '--manifest-path', path.join(__dirname, 'Cargo.toml'), '--example', 'rust_baseline', '--message-format=json-render-diagnostics'],
    { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20 },
  );
  if (r.error || r.status !== 0) {
    process.stderr.write(r.stderr ? r.stderr.toString() : String(r.error));
    return undefined;
  }
  for (const line of r.stdout.toString().split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line);
    if (msg.reason === 'compiler-artifact' && msg.target && msg.target.name === 'rust_baseline' && msg.executable) {
      return msg.executable;
    }
  }
  return undefined;
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ziggydb-bench-'));
  try {
    const db = ziggydb.open(path.join(tmp, 'node'), { durability: 'batched', batchDelayMs: 50 });
    db.set(KEY, VALUE);
    if (db.get(KEY) !== VALUE) throw new Error('the value did not read back');
    const exe = rustBaseline();
    if (!exe) process.stderr.write('rust baseline not built (no cargo?): Node figures only\n');
    // Node and Rust take turns, a round each, so that both see the machine's load of the
    // moment; each keeps its best round.
    const ops = ['get', 'set', 'execute GET'];
    const node = Object.fromEntries(ops.map((op) => [op, Infinity]));
    let rust;
    for (let turn = 0; turn < TURNS; turn++) {
      node.get = Math.min(node.get, best(N, ROUNDS, () => db.get(KEY)));
      node.set = Math.min(node.set, best(N, ROUNDS, () => db.set(KEY, VALUE)));
      node['execute GET'] = Math.min(node['execute GET'], best(N, ROUNDS, () => db.execute('GET', KEY)));
      if (exe) {
        const r = spawnSync(exe, [path.join(tmp, 'rust'), String(N), String(ROUNDS)], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`rust baseline failed: ${r.stderr}`);
        const got = JSON.parse(r.stdout.trim());
        rust = rust ? Object.fromEntries(ops.map((op) => [op, Math.min(rust[op], got[op])])) : got;
      }
    }
    const asyncGet = await bestAsync(200, ROUNDS, () => db.async.get(KEY));
    db.close();

    const durable = ziggydb.open(path.join(tmp, 'immediate'));
    const fsyncN = quick ? 200 : 1000;
    const immediateSet = best(fsyncN, 1, () => durable.set(KEY, VALUE));
    durable.close();

    const f = (ns) => (ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`);
    console.log(
      `ziggydb Node.js binding, ${quick ? 'quick' : 'full'} run: best round of ${N} calls, ` +
        `${TURNS} turns × ${ROUNDS} rounds per side, Node ${process.version}`,
    );
    console.log('operation       Node/call   Rust/call   Node/Rust');
    for (const op of ['get', 'set', 'execute GET']) {
      const r = rust ? rust[op] : undefined;
      const ratio = r ? `${(node[op] / r).toFixed(2)}×` : '-';
      console.log(`${op.padEnd(15)} ${f(node[op]).padStart(9)}   ${r ? f(r).padStart(9) : '        -'}   ${ratio.padStart(9)}`);
    }
    console.log(`async get       ${f(asyncGet).padStart(9)}   (db.async.get awaited one at a time: a thread-pool round trip)`);
    console.log(`set, immediate  ${f(immediateSet).padStart(9)}   (each call waits for its fsync)`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
