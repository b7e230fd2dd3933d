package ziggydb;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.StampedLock;

/**
 * An open ZiggyDB database: a directory that many processes (in any language) open at once.
 *
 * <pre>{@code
 * try (ZiggyDb db = ZiggyDb.open(Path.of("data"))) {
 *     db.set("greeting", "hello");
 *     long n = db.incr("visits");
 *     db.transaction(tx -> {
 *         tx.set("a", 1L);
 *         tx.execute("RPUSH", "log", "a set");
 *     });
 * }
 * }</pre>
 *
 * <p>Thread-safe: share one instance between threads. {@link #close()} waits for the calls
 * in flight on other threads and makes every later call throw {@link ZiggyException.Closed};
 * it never frees what a running call uses. A database never closed is closed when it becomes
 * unreachable (a {@link Cleaner}), so its native resources do not leak; close it anyway, since
 * until then it holds its files, and a second open of the directory in this JVM must ask for
 * the same options.
 *
 * <p>Each call on the database is a transaction of its own. {@link #transaction} runs several
 * as one: it holds the writer lock of every process until the block ends.
 */
public final class ZiggyDb extends ZiggyCommands implements AutoCloseable {
    /** One thread closes every forgotten database and session. */
    static final Cleaner CLEANER = Cleaner.create();

    /** The native handle, apart from the database so the Cleaner's action can hold it. */
    private static final class Handle implements Runnable {
        long db;

        Handle(long db) {
            this.db = db;
        }

        @Override
        public void run() {
            long h = db;
            db = 0;
            Native.close(h);
        }
    }

    private final Path path;
    private final Handle handle;
    private final Cleaner.Cleanable cleanable;
    /** Read-held by every call on the handle; write-held by close(). */
    private final StampedLock lock = new StampedLock();
    /**
     * The thread running a transaction body of this database, if any (one at most: the
     * body holds the writer lock). Its writes not through the transaction would wait for
     * that lock, i.e. for themselves: they fail at once instead.
     */
    private volatile Thread txnThread;
    /**
     * Set by close() before it waits for the lock: calls that start after it throw Closed at
     * once, so that a stream of calls on other threads cannot keep close() waiting.
     */
    private volatile boolean closing;

    private ZiggyDb(Path path, long db) {
        this.path = path;
        this.handle = new Handle(db);
        this.cleanable = CLEANER.register(this, handle);
    }

    /** Opens (creating it if needed) the database directory {@code dir} with the defaults. */
    public static ZiggyDb open(Path dir) {
        return open(dir, new Options());
    }

    /** Opens (creating it if needed, unless read-only) the database directory {@code dir}. */
    public static ZiggyDb open(Path dir, Options options) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(options, "options");
        byte[] p = dir.toString().getBytes(StandardCharsets.UTF_8);
        long h = Native.open(
                p,
                options.durability == Durability.BATCHED ? 1 : 0,
                (int) options.batchDelayMs,
                options.lockTimeoutMs,
                options.segmentSize,
                options.autoCompact,
                options.activeExpiryMs,
                options.readOnly,
                options.mode);
        return new ZiggyDb(dir, h);
    }

    /** The library's version, e.g. "0.3.0". */
    public static String version() {
        return Native.text(Native.version());
    }

    /** The directory this database was opened from. */
    public Path path() {
        return path;
    }

    /** Whether {@link #close()} has run. */
    public boolean isClosed() {
        long stamp = lock.readLock();
        try {
            return handle.db == 0;
        } finally {
            lock.unlockRead(stamp);
        }
    }

    /**
     * Closes the database: waits for calls in flight on other threads, then releases the
     * handle (the last handle of the directory in this process releases its files and locks).
     * Idempotent. A transaction still running keeps the database open until it ends.
     */
    @Override
    public void close() {
        closing = true;
        long stamp = lock.writeLock();
        try {
            cleanable.clean();
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** Throws TxnActive when the caller's thread runs a transaction body of this database. */
    void checkNotInTransaction(String what) {
        if (txnThread == Thread.currentThread()) {
            throw new ZiggyException.TxnActive(what + " on the database inside a transaction body"
                    + " would wait for the transaction's own writer lock: use the transaction"
                    + " (tx) the body was given");
        }
    }

    /** Read-locks the handle; throws Closed (unlocked) if it is closed. */
    private long acquire() {
        if (closing) {
            throw new ZiggyException.Closed("the database " + path + " is closed");
        }
        long stamp = lock.readLock();
        if (handle.db == 0) {
            lock.unlockRead(stamp);
            throw new ZiggyException.Closed("the database " + path + " is closed");
        }
        return stamp;
    }

    // Every call: read lock, the native call, unlock, and a reachability fence so that the
    // Cleaner cannot close the handle while a call on an otherwise unreachable database runs.

    @Override
    byte[] rawGet(byte[] key) {
        long stamp = acquire();
        try {
            return Native.get(handle.db, key);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    @Override
    void rawSet(byte[] key, byte[] value) {
        checkNotInTransaction("a write");
        long stamp = acquire();
        try {
            Native.set(handle.db, key, value);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    @Override
    boolean rawDelete(byte[] key) {
        checkNotInTransaction("a write");
        long stamp = acquire();
        try {
            return Native.del(handle.db, key);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    @Override
    long rawIncr(byte[] key, long delta) {
        checkNotInTransaction("a write");
        long stamp = acquire();
        try {
            return Native.incrby(handle.db, key, delta);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    @Override
    Value rawGetValue(byte[] key) {
        long stamp = acquire();
        try {
            return Native.getValue(handle.db, key);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    @Override
    void rawSetValue(byte[] key, Value v) {
        checkNotInTransaction("a write");
        long stamp = acquire();
        try {
            Native.setValue(
                    handle.db, key, v.nativeType(), v.nativeInteger(), v.nativeReal(), v.nativeData());
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    @Override
    Long rawGetLong(byte[] key) {
        long stamp = acquire();
        try {
            return Native.getLong(handle.db, key);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    @Override
    Double rawGetDouble(byte[] key) {
        long stamp = acquire();
        try {
            return Native.getDouble(handle.db, key);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    @Override
    Object rawExecute(byte[][] args, boolean bulkAsString) {
        checkNotInTransaction("execute");
        long stamp = acquire();
        try {
            return Native.exec(handle.db, args, bulkAsString);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    /** Whether {@code key} exists (of any type, collections included). */
    public boolean exists(byte[] key) {
        nonNull(key, "key");
        long stamp = acquire();
        try {
            return Native.exists(handle.db, key);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    /** As {@link #exists(byte[])}. */
    public boolean exists(String key) {
        return exists(key(key));
    }

    /** The type of the value at {@code key}; null if missing. */
    public ValueType type(byte[] key) {
        nonNull(key, "key");
        long stamp = acquire();
        try {
            return ValueType.of(Native.type(handle.db, key));
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    /** As {@link #type(byte[])}. */
    public ValueType type(String key) {
        return type(key(key));
    }

    /** Makes every commit so far durable (for {@link Durability#BATCHED}). */
    public void sync() {
        long stamp = acquire();
        try {
            Native.sync(handle.db);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    /**
     * A session on this database, in which {@code MULTI}/{@code EXEC}, {@code WATCH} and
     * {@code BEGIN}/{@code COMMIT} keep their state across commands. Close it.
     */
    public Session session() {
        long stamp = acquire();
        try {
            return new Session(this, Native.sessionOpen(handle.db));
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
    }

    /**
     * A Pub/Sub subscriber with a session of its own: {@link PubSub#subscribe(String...)},
     * {@link PubSub#psubscribe(String...)}, then {@link PubSub#getMessage(long)}. Close it.
     */
    public PubSub pubsub() {
        return new PubSub(session());
    }

    /** The shared counters, summed over every process on the database. */
    public Metrics metrics() {
        long[] v = new long[14];
        long stamp = acquire();
        try {
            Native.metrics(handle.db, v);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
        return Metrics.of(v);
    }

    /**
     * Compacts now: rewrites the live records of every sealed segment and deletes the old
     * files, while other processes keep reading and writing.
     */
    public CompactStats compact() {
        checkNotInTransaction("compact");
        long[] v = new long[5];
        long stamp = acquire();
        try {
            Native.compact(handle.db, v);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
        return new CompactStats(v[0], v[1], v[2], v[3], v[4]);
    }

    /**
     * Copies the live database into the directory {@code dest} (which must not exist, or be
     * empty); other processes keep writing meanwhile.
     */
    public BackupStats backup(Path dest) {
        Objects.requireNonNull(dest, "dest");
        byte[] p = dest.toString().getBytes(StandardCharsets.UTF_8);
        long[] v = new long[3];
        long stamp = acquire();
        try {
            Native.backup(handle.db, p, v);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
        return new BackupStats(v[0], v[1], v[2]);
    }

    /** Verifies every checksum and that the index and the segments agree. */
    public CheckReport check() {
        long[] v = new long[3];
        byte[] text;
        long stamp = acquire();
        try {
            text = Native.check(handle.db, v);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
        List<String> lines = text == null
                ? List.of()
                : List.of(new String(text, StandardCharsets.UTF_8).split("\n"));
        return new CheckReport(v[0], v[1], v[2], lines);
    }

    // ------------------------------------------------------------------------------------
    // Transactions.

    /**
     * Runs {@code body} in a write transaction: commits when it returns normally, rolls back
     * when it throws (and rethrows what it threw, checked exceptions included). While it runs,
     * every other writer of the database, in any thread or process, waits for it; a write on
     * this database from inside the body not through {@code tx} is {@link
     * ZiggyException.TxnActive}. {@code tx} is used from this thread, inside the body only.
     *
     * @throws ZiggyException.Busy if the writer lock is not free within the lock timeout
     */
    public <E extends Exception> void transaction(Transaction.Body<E> body) throws E {
        Objects.requireNonNull(body, "body");
        transactionResult(tx -> {
            body.run(tx);
            return null;
        });
    }

    /** {@link #transaction} for a body that returns a result, which this returns. */
    public <T, E extends Exception> T transactionResult(Transaction.Function<T, E> body) throws E {
        Objects.requireNonNull(body, "body");
        checkNotInTransaction("a second transaction");
        long txn;
        long stamp = acquire();
        try {
            txn = Native.txnBegin(handle.db);
        } finally {
            lock.unlockRead(stamp);
            Reference.reachabilityFence(this);
        }
        Transaction tx;
        try {
            tx = new Transaction(txn, Thread.currentThread());
        } catch (Throwable t) {
            // Out of memory for the wrapper: the writer lock must not stay held.
            Native.txnRollback(txn);
            throw t;
        }
        txnThread = Thread.currentThread();
        T result;
        try {
            result = body.apply(tx);
        } catch (Throwable t) {
            txnThread = null;
            tx.rollback();
            throw t;
        }
        txnThread = null;
        tx.commit();
        return result;
    }

    @Override
    public String toString() {
        return "ZiggyDb(" + path + (isClosed() ? ", closed)" : ")");
    }
}
