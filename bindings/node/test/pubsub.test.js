'use strict';
// Pub/Sub: db.publish and db.pubsub(), across OS processes. The publishers in other
// processes are this file run again with ZIGGYDB_TEST_ROLE set.
const ziggydb = require('..');

const role = process.env.ZIGGYDB_TEST_ROLE;

if (role === 'publish') {
  // A child process: publishes each "channel=message" of its arguments (a message given as
  // `hex:…` is those bytes) and prints the receivers of each.
  const db = ziggydb.open(process.env.ZIGGYDB_TEST_DIR);
  const counts = [];
  for (const arg of process.argv.slice(2)) {
    const eq = arg.indexOf('=');
    const channel = arg.slice(0, eq);
    const text = arg.slice(eq + 1);
    const message = text.startsWith('hex:') ? Buffer.from(text.slice(4), 'hex') : text;
    counts.push(db.publish(channel, message));
  }
  db.close();
  process.stdout.write(`${counts.join(' ')}\n`);
} else {
  const test = require('node:test');
  const assert = require('node:assert/strict');
  const { once } = require('node:events');
  const { spawn } = require('node:child_process');
  const { tempDir } = require('./helpers');

  const fresh = (t) => {
    const db = ziggydb.open(tempDir(t));
    t.after(() => db.close());
    return db;
  };

  /** Runs the publisher role in a new node process; its stdout. */
  const publishFrom = (dir, ...pairs) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [__filename, ...pairs], {
        env: { ...process.env, ZIGGYDB_TEST_ROLE: 'publish', ZIGGYDB_TEST_DIR: dir },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`publisher exited ${code}`))));
    });

  /** The next `n` events named `name` of `emitter`, each as its arguments. */
  const collect = (emitter, name, n) =>
    new Promise((resolve) => {
      const got = [];
      const on = (...args) => {
        got.push(args);
        if (got.length === n) {
          emitter.off(name, on);
          resolve(got);
        }
      };
      emitter.on(name, on);
    });

  test('a message published by another process reaches the subscriber, strings and bytes', async (t) => {
    const db = fresh(t);
    const sub = db.pubsub();
    t.after(() => sub.close());
    assert.ok(sub instanceof ziggydb.PubSub);
    assert.ok(sub instanceof require('node:events').EventEmitter);
    assert.equal(await sub.subscribe('news', 'sport'), 2);
    assert.equal(sub.subscriptionCount, 2);
    const texts = collect(sub, 'message', 3);
    const buffers = collect(sub, 'messageBuffer', 3);
    // Publish order per publisher is delivery order; bytes that are not UTF-8 arrive as sent.
    const out = await publishFrom(db.path, 'news=hello', 'weather=unheard', 'sport=héllo ⚽', 'news=hex:00ff0a');
    assert.equal(out, '1 0 1 1');
    assert.deepEqual(await texts, [
      ['news', 'hello'],
      ['sport', 'héllo ⚽'],
      ['news', Buffer.from([0, 0xff, 0x0a]).toString()],
    ]);
    assert.deepEqual(await buffers, [
      [Buffer.from('news'), Buffer.from('hello')],
      [Buffer.from('sport'), Buffer.from('héllo ⚽')],
      [Buffer.from('news'), Buffer.from([0, 0xff, 0x0a])],
    ]);
  });

  test('patterns deliver pmessage with the pattern, and publish counts every receiver', async (t) => {
    const db = fresh(t);
    const sub = db.pubsub();
    t.after(() => sub.close());
    assert.equal(await sub.psubscribe('news.*', 'n*'), 2);
    assert.equal(await sub.subscribe('news.uk'), 3);
    const pm = collect(sub, 'pmessage', 3);
    const m = collect(sub, 'message', 1);
    const pmBuffers = collect(sub, 'pmessageBuffer', 3);
    // news.uk: the channel and both patterns; nothing: only n*; other: none.
    assert.equal(await publishFrom(db.path, 'news.uk=a', 'nothing=b', 'other=c'), '3 1 0');
    assert.deepEqual(await pm, [
      ['news.*', 'news.uk', 'a'],
      ['n*', 'news.uk', 'a'],
      ['n*', 'nothing', 'b'],
    ]);
    assert.deepEqual(await m, [['news.uk', 'a']]);
    assert.deepEqual((await pmBuffers)[2], [Buffer.from('n*'), Buffer.from('nothing'), Buffer.from('b')]);
    // This process's publish counts the same way.
    assert.equal(db.publish('news.fr', Buffer.from('x')), 2);
    assert.equal(await db.async.publish('zzz', 'x'), 0);
  });

  test('unsubscribe and punsubscribe stop the messages of what they name', async (t) => {
    const db = fresh(t);
    const sub = db.pubsub();
    t.after(() => sub.close());
    await sub.subscribe('a', 'b', 'c');
    await sub.psubscribe('p.*');
    assert.equal(await sub.unsubscribe('a'), 3);
    assert.equal(await sub.punsubscribe(), 2);
    const seen = [];
    sub.on('message', (channel, message) => seen.push(`${channel}=${message}`));
    sub.on('pmessage', (pattern, channel, message) => seen.push(`${pattern}:${channel}=${message}`));
    // One publisher, so the messages come in its order: had 'a' or 'p.1' come at all, they
    // would be before 'b=last'.
    assert.equal(await publishFrom(db.path, 'a=1', 'p.1=2', 'c=3', 'b=last'), '0 0 1 1');
    while (!seen.includes('b=last')) await once(sub, 'message');
    assert.deepEqual(seen, ['c=3', 'b=last']);
    assert.equal(await sub.unsubscribe(), 0);
    assert.equal(db.publish('b', 'x'), 0);
    assert.equal(sub.subscriptionCount, 0);
  });

  test('the async iterator yields messages until the subscriber closes', async (t) => {
    const db = fresh(t);
    const sub = db.pubsub();
    await sub.subscribe(Buffer.from('jobs'));
    await sub.psubscribe('log:*');
    const got = [];
    const loop = (async () => {
      for await (const m of sub) got.push(m);
      return 'ended';
    })();
    await publishFrom(db.path, 'jobs=j1', 'log:x=l1');
    while (got.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    await sub.close();
    assert.equal(await loop, 'ended');
    assert.deepEqual(got, [
      { type: 'message', pattern: null, channel: 'jobs', message: 'j1', buffer: Buffer.from('j1') },
      { type: 'pmessage', pattern: 'log:*', channel: 'log:x', message: 'l1', buffer: Buffer.from('l1') },
    ]);
  });

  test('close ends the subscriptions in every process; later commands reject', async (t) => {
    const db = fresh(t);
    const sub = db.pubsub();
    await sub.subscribe('a');
    assert.equal(await publishFrom(db.path, 'a=1'), '1');
    const closed = once(sub, 'close');
    const p = sub.close();
    assert.equal(sub.close(), p); // twice: the same promise
    await p;
    await closed;
    assert.equal(sub.closed, true);
    assert.equal(await publishFrom(db.path, 'a=2'), '0');
    await assert.rejects(sub.subscribe('b'), (e) => e instanceof ziggydb.ClosedError && e.code === 'CLOSED');
    // A callback gets the same outcome.
    const viaCallback = await new Promise((resolve) => {
      sub.subscribe('b', (err, n) => resolve([err, n]));
    });
    assert.ok(viaCallback[0] instanceof ziggydb.ClosedError);
  });

  test('closing the db closes its subscribers', async (t) => {
    const dir = tempDir(t);
    const db = ziggydb.open(dir);
    const sub = db.pubsub();
    assert.equal(await sub.subscribe('a'), 1);
    const closed = once(sub, 'close');
    db.close();
    await closed;
    assert.equal(sub.closed, true);
    const other = ziggydb.open(dir);
    t.after(() => other.close());
    assert.equal(other.publish('a', 'm'), 0);
    assert.throws(() => db.pubsub(), ziggydb.ClosedError);
    assert.throws(() => db.publish('a', 'm'), ziggydb.ClosedError);
  });

  test('Pub/Sub errors: bad names, bad messages, SUBSCRIBE through execute', async (t) => {
    const db = fresh(t);
    const sub = db.pubsub();
    t.after(() => sub.close());
    await assert.rejects(sub.subscribe('x'.repeat(100_000)), (e) => e instanceof ziggydb.InvalidArgumentError && /longer than/.test(e.message));
    await assert.rejects(sub.subscribe(), (e) => e instanceof TypeError && /at least one channel/.test(e.message));
    await assert.rejects(sub.psubscribe(42), TypeError);
    assert.throws(() => db.publish('c', 42), TypeError);
    assert.throws(() => db.publish('c', 'x'.repeat(1 << 20)), ziggydb.ValueTooLargeError);
    assert.throws(
      () => db.execute('SUBSCRIBE', 'c'),
      (e) => e instanceof ziggydb.ReplyError && /use db\.pubsub\(\)/.test(e.message),
    );
    // The subscriber still works after its failed commands.
    assert.equal(await sub.subscribe('ok'), 1);
    const m = once(sub, 'message');
    assert.equal(db.execute('PUBLISH', 'ok', 'fine'), 1);
    assert.deepEqual(await m, ['ok', 'fine']);
  });
}
