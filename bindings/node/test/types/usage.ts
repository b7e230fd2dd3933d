// Compiled (not run) by test/types.test.js with `tsc --noEmit --strict`: the declarations in
// index.d.ts accept the documented API, and reject what they should (@ts-expect-error lines
// fail the compile if the call is accepted).
import ziggydb, {
  open,
  float,
  Db,
  Transaction,
  ZiggyError,
  WrongTypeError,
  ReplyError,
  BusyError,
  ERROR_CODES,
  PubSub,
  AbortError,
  type PubSubMessage,
  type Value,
  type Reply,
  type OpenOptions,
} from 'ziggydb';

const opts: OpenOptions = { durability: 'batched', batchDelayMs: 20, lockTimeoutMs: 500, strings: true };
const db: Db = open('/tmp/db', opts);
db.set('s', 'text');
db.set('n', 42);
db.set('f', float(3));
db.set('f2', 3, { type: 'float', ex: 10 });
db.set('b', Buffer.from([0]));
db.set('big', 2n ** 60n);
db.set('d', new Date());
db.set('j', { a: [1, 2] }, { px: 100 });
db.set('k', 'v', { keepTtl: true });
const v: Value | null = db.get('s');
const n: number | bigint = db.incr('n', 2);
const gone: boolean = db.delete(Buffer.from('k'));
const r: Reply = db.execute('ZADD', 'board', 10, 'ada');
const total: number = db.transaction((tx: Transaction) => {
  tx.set('a', 1);
  tx.execute('RPUSH', 'l', 'x');
  return 3;
});
async function later(): Promise<void> {
  const x: Value | null = await db.async.get('s');
  await db.async.set('s', 'v', { ex: 1 });
  const y: number | bigint = await db.async.incr('n');
  const z: string = await db.async.transaction(() => 'done');
  await db.async.sync();
  void [x, y, z];
}
async function waiting(): Promise<void> {
  const ac = new AbortController();
  const popped: Reply = await db.async.execute('BLPOP', 'jobs', 0, { signal: ac.signal });
  const plain: Reply = await db.async.execute('BLPOP', 'jobs', 5);
  const receivers: number = db.publish('news', Buffer.from('hi'));
  const later: number = await db.async.publish('news', 'hi');
  const sub: PubSub = db.pubsub();
  sub.on('message', (channel: string, message: string) => console.log(channel, message));
  sub.on('pmessage', (pattern: string, channel: string, message: string) => console.log(pattern, channel, message));
  sub.on('messageBuffer', (channel: Buffer, message: Buffer) => console.log(channel.length, message.length));
  const count: number = await sub.subscribe('news', 'sport');
  await sub.psubscribe('log:*', (err, n) => console.log(err, n));
  await sub.unsubscribe();
  for await (const m of sub) {
    const seen: PubSubMessage = m;
    const bytes: Buffer = m.buffer;
    if (m.type === 'pmessage') console.log(m.pattern, seen, bytes);
  }
  await sub.close();
  try {
    await db.async.execute('BLPOP', 'jobs', 0, { signal: AbortSignal.timeout(10) });
  } catch (e) {
    if (e instanceof AbortError) console.log(e.code, e.cause);
  }
  void [popped, plain, receivers, later, count];
}
try {
  db.incr('s');
} catch (e) {
  if (e instanceof WrongTypeError || e instanceof BusyError) console.log(e.code, e.errno);
  if (e instanceof ReplyError) console.log(e.prefix);
  if (e instanceof ZiggyError) console.log(e.message);
}
const code: number | undefined = ERROR_CODES.WRONG_TYPE;
const same: typeof open = ziggydb.open;
db.close();

// @ts-expect-error: durability is one of two names
open('/tmp/db', { durability: 'sometimes' });
// @ts-expect-error: a key is a string or bytes
db.get(42);
// @ts-expect-error: the set options have no `ttl`
db.set('k', 'v', { ttl: 5 });
// @ts-expect-error: Db has no public constructor
new Db();
// @ts-expect-error: a message is a string or bytes
db.publish('c', 42);
// @ts-expect-error: the signal is an AbortSignal
db.async.execute('BLPOP', 'q', 0, { signal: 'soon' });

void [v, n, gone, r, total, later, waiting, code, same];
