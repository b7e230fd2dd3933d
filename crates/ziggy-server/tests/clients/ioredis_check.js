// ioredis against ziggy-server: every command group, pipelines, transactions, AUTH.
//
// Usage: node ioredis_check.js PORT1 PORT2 PASSWORD
// Both servers serve the same directory and ask for PASSWORD. Exits non-zero on the first
// thing that is not as Redis 7 does it.
'use strict';

const assert = require('assert/strict');
const net = require('net');
const Redis = require('ioredis');

const [port1, port2] = [Number(process.argv[2]), Number(process.argv[3])];
const password = process.argv[4];
const opts = (port, extra = {}) => ({
  host: '127.0.0.1', port, password, connectTimeout: 60000, maxRetriesPerRequest: 0,
  lazyConnect: true, ...extra,
});

async function rawBadInput(port) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ host: '127.0.0.1', port }, () => {
      s.write('*1\r\n$99999999999\r\n');
    });
    let data = '';
    s.on('data', (d) => { data += d.toString(); });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

async function main() {
  // AUTH: a wrong password fails.
  const bad = new Redis(opts(port1, { password: 'nope', retryStrategy: () => null }));
  bad.on('error', () => {});
  await assert.rejects(bad.connect());
  bad.disconnect();

  const r = new Redis(opts(port1));
  const r2 = new Redis(opts(port2));
  await r.connect();
  await r2.connect();

  assert.equal(await r.ping(), 'PONG');
  await r.flushdb();

  // Strings.
  assert.equal(await r.set('s', 'v'), 'OK');
  assert.equal(await r.get('s'), 'v');
  assert.equal(await r.set('s', 'w', 'NX'), null);
  assert.equal(await r.append('s', 'xyz'), 4);
  assert.equal(await r.incr('n'), 1);
  assert.equal(await r.incrby('n', 9), 10);
  assert.equal(await r.mset('a', '1', 'b', '2'), 'OK');
  assert.deepEqual(await r.mget('a', 'b', 'zz'), ['1', '2', null]);
  const big = 'x'.repeat(1 << 20);
  await r.set('big', big);
  assert.equal(await r.get('big'), big);

  // Keys and expiry.
  assert.equal(await r.expire('a', 100), 1);
  const ttl = await r.ttl('a');
  assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);
  assert.equal(await r.del('a', 'b', 'nothing'), 2);
  assert.equal(await r.exists('s'), 1);
  assert.equal(await r.type('s'), 'string');

  // Lists, hashes, sets, sorted sets.
  assert.equal(await r.rpush('l', 'a', 'b', 'c'), 3);
  assert.deepEqual(await r.lrange('l', 0, -1), ['a', 'b', 'c']);
  assert.equal(await r.lpop('l'), 'a');
  assert.equal(await r.hset('h', 'f1', '1', 'f2', '2'), 2);
  assert.deepEqual(await r.hgetall('h'), { f1: '1', f2: '2' });
  assert.equal(await r.hincrby('h', 'f1', 4), 5);
  assert.equal(await r.sadd('set', 'a', 'b'), 2);
  assert.deepEqual((await r.smembers('set')).sort(), ['a', 'b']);
  assert.equal(await r.zadd('z', 1, 'a', 2, 'b'), 2);
  assert.deepEqual(await r.zrange('z', 0, -1, 'WITHSCORES'), ['a', '1', 'b', '2']);
  assert.equal(await r.zscore('z', 'b'), '2');

  // The other server on the directory sees it all, and the other way round.
  assert.equal(await r2.get('s'), 'vxyz');
  assert.deepEqual(await r2.hgetall('h'), { f1: '5', f2: '2' });
  await r2.set('from2', 'yes');
  assert.equal(await r.get('from2'), 'yes');

  // Pipelines (ioredis sends a pipeline's commands in one write) and MULTI/EXEC.
  const p = r.pipeline();
  for (let i = 0; i < 1000; i++) p.incr('pc');
  const res = await p.exec();
  assert.deepEqual(res[999], [null, 1000]);
  const m = await r.multi().set('t', '1').incr('t').get('t').exec();
  assert.deepEqual(m, [[null, 'OK'], [null, 2], [null, '2']]);

  // WATCH: a change through the other server aborts EXEC.
  await r.watch('w');
  await r2.set('w', 'other');
  assert.equal(await r.multi().set('w', 'mine').exec(), null);
  assert.equal(await r.get('w'), 'other');

  // An error reply rejects that command only.
  await assert.rejects(r.lpush('s', 'x'), /WRONGTYPE/);
  assert.equal(await r.ping(), 'PONG');

  // Many clients at once, half on each server.
  const clients = [];
  for (let i = 0; i < 8; i++) {
    const c = new Redis(opts(i % 2 ? port1 : port2));
    await c.connect();
    clients.push(c);
  }
  await Promise.all(clients.map(async (c) => {
    for (let i = 0; i < 200; i++) await c.incr('many');
  }));
  assert.equal(await r.get('many'), '1600');
  clients.forEach((c) => c.disconnect());

  // CLIENT, CONFIG, INFO.
  assert.equal(await r.client('SETNAME', 'node'), 'OK');
  assert.equal(await r.client('GETNAME'), 'node');
  assert.match(await r.client('LIST'), /name=node/);
  assert.deepEqual(await r.config('GET', 'port'), ['port', String(port1)]);
  assert.match(await r.info('clients'), /connected_clients:/);

  // Pub/Sub: a subscriber on one server, the publisher on the other.
  const sub = new Redis(opts(port1));
  await sub.connect();
  const got = new Promise((resolve) => sub.on('message', (ch, msg) => resolve([ch, msg])));
  assert.equal(await sub.subscribe('chan2'), 1);
  assert.equal(await r2.publish('chan2', 'hi'), 1);
  assert.deepEqual(await got, ['chan2', 'hi']);
  sub.disconnect();

  // A blocking pop on one server, woken by a push through the other.
  const waiter = new Redis(opts(port1));
  const popped = waiter.blpop('ioq', 0);
  const start = Date.now();
  while (!/blocked_clients:1/.test(await r.info('clients'))) {
    assert.ok(Date.now() - start < 60000, 'the waiter never blocked');
    await new Promise((ok) => setTimeout(ok, 10));
  }
  assert.equal(await r2.rpush('ioq', 'job'), 1);
  assert.deepEqual(await popped, ['ioq', 'job']);
  assert.equal(await r.llen('ioq'), 0);
  waiter.disconnect();

  // Bad input on a raw socket: an error and a closed connection; the server goes on.
  assert.match(await rawBadInput(port1), /Protocol error/);
  assert.equal(await r.ping(), 'PONG');

  r.disconnect();
  r2.disconnect();
  console.log(`ioredis ${require('ioredis/package.json').version} checks passed`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
