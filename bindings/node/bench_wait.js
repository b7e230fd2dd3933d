#!/usr/bin/env node
'use strict';
// Waiting across processes from Node: `node bench_wait.js [--quick]`.
//
// A second node process (this file run again) pushes or publishes; this one waits, and the
// time from just before the other process's call to the moment the reply or message reaches
// JS here is measured, one at a time (the waiter asks for the next one when it has the last):
//   BLPOP wake-up   await db.async.execute('BLPOP', 'q', 0) here, RPUSH q there
//   Pub/Sub         a db.pubsub() 'message' listener here, db.publish there
// plus Pub/Sub throughput: the other process publishes as fast as it can, this one counts
// the messages its listener gets per second. Times are wall-clock (performance.timeOrigin +
// performance.now(), the same clock in both processes).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const { once } = require('node:events');
const ziggydb = require('./index.js');

const now = () => performance.timeOrigin + performance.now();

if (process.env.ZIGGYDB_BENCH_ROLE === 'sender') {
  // Each line on stdin: "push", "publish" or "flood N"; a line back when done.
  const db = ziggydb.open(process.env.ZIGGYDB_BENCH_DIR, { durability: 'batched' });
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [what, n] = line.split(' ');
    if (what === 'push') db.execute('RPUSH', 'q', String(now()));
    else if (what === 'publish') db.publish('c', String(now()));
    else if (what === 'flood') {
      const payload = 'x'.repeat(16);
      for (let i = 0; i < Number(n); i++) db.publish('flood', payload);
      db.publish('flood', 'end');
    }
    process.stdout.write('sent\n');
  });
  rl.on('close', () => db.close());
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

function quantiles(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}

async function main() {
  const quick = process.argv.includes('--quick');
  const n = quick ? 100 : 1000;
  // Within what the shared ring holds when the listener is slower than the publisher.
  const flood = 20_000;
  const floods = quick ? 1 : 5;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ziggydb-bench-wait-'));
  const db = ziggydb.open(path.join(dir, 'db'), { durability: 'batched' });
  const child = spawn(process.execPath, [__filename], {
    env: { ...process.env, ZIGGYDB_BENCH_ROLE: 'sender', ZIGGYDB_BENCH_DIR: db.path },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const replies = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ask = async (line) => {
    child.stdin.write(`${line}\n`);
    await replies.next();
  };
  try {
    // BLPOP: the pop is waiting (on its thread) before the other process pushes.
    const pops = [];
    for (let i = 0; i < n; i++) {
      const pop = db.async.execute('BLPOP', 'q', 0);
      await new Promise((resolve) => setTimeout(resolve, 1));
      child.stdin.write('push\n');
      const [, sent] = await pop;
      pops.push(now() - Number(sent.toString()));
      await replies.next();
    }
    // Pub/Sub latency.
    const sub = db.pubsub();
    await sub.subscribe('c', 'flood');
    const msgs = [];
    for (let i = 0; i < n; i++) {
      const got = once(sub, 'message');
      child.stdin.write('publish\n');
      const [, sent] = await got;
      msgs.push(now() - Number(sent));
      await replies.next();
    }
    // Pub/Sub throughput.
    const rates = [];
    let overrun = null;
    for (let r = 0; r < floods && overrun === null; r++) {
      let count = 0;
      const ended = new Promise((resolve) => {
        const onMessage = (channel, message) => {
          if (channel !== 'flood') return;
          if (message !== 'end') {
            count++;
            return;
          }
          sub.off('message', onMessage);
          resolve();
        };
        sub.on('message', onMessage);
        sub.once('error', (e) => {
          overrun = `the listener overran after ${count} messages (${e.message})`;
          resolve();
        });
      });
      const t0 = now();
      await ask(`flood ${flood}`);
      await ended;
      rates.push(Math.round(count / ((now() - t0) / 1000)));
    }
    await sub.close();

    const f = (ms) => `${(ms * 1000).toFixed(0)} µs`;
    const p = quantiles(pops);
    const m = quantiles(msgs);
    console.log(`ziggydb Node.js binding, waiting across processes (${quick ? 'quick' : 'full'} run, ${n} samples each)`);
    console.log(`BLPOP wake-up (RPUSH in another process → reply in JS)   median ${f(p.median)}  p99 ${f(p.p99)}  max ${f(p.max)}`);
    console.log(`Pub/Sub delivery (publish in another process → listener)  median ${f(m.median)}  p99 ${f(m.p99)}  max ${f(m.max)}`);
    if (overrun) console.log(`Pub/Sub flood of ${flood}: ${overrun}`);
    else console.log(`Pub/Sub flood: ${flood} messages published as fast as one process can, ${rates.join(', ')} messages/s to one listener`);
  } finally {
    child.stdin.end();
    await once(child, 'exit');
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
