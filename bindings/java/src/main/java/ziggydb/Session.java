package ziggydb;

import java.lang.ref.Cleaner;
import java.util.Objects;

/**
 * A connection's state for commands, as a Redis client has one ({@link ZiggyDb#session()}):
 * {@code MULTI}/{@code EXEC}/{@code DISCARD}, {@code WATCH}, and {@code BEGIN}/{@code
 * COMMIT}/{@code ROLLBACK} keep their state from one {@link #execute(String...)} to the next.
 *
 * <pre>{@code
 * try (Session s = db.session()) {
 *     s.execute("WATCH", "balance");
 *     long balance = Long.parseLong((String) s.execute("GET", "balance"));
 *     s.execute("MULTI");
 *     s.execute("SET", "balance", Long.toString(balance - 10));
 *     List<?> done = (List<?>) s.execute("EXEC");   // null if "balance" changed meanwhile
 * }
 * }</pre>
 *
 * <p>Replies are as {@link ZiggyCommands#execute(String...)} gives them. Calls are serialized
 * (the methods are synchronized), so a session may be handed between threads, but commands
 * of two threads would interleave in one {@code MULTI}: give each thread its own. Close it:
 * {@link #close()} rolls back a {@code BEGIN} still open (which holds the writer lock of every
 * process until then) and discards a {@code MULTI} queue. A forgotten session is closed by a
 * {@link Cleaner} when it becomes unreachable, but a {@code BEGIN} left in it blocks every
 * writer until that happens. A session keeps its database open even after {@link
 * ZiggyDb#close()}.
 */
public final class Session implements AutoCloseable {
    private static final class Handle implements Runnable {
        long session;
        /** Guarded by this Handle's monitor, as interrupt() may run during a command. */
        long interrupter;

        Handle(long session) {
            this.session = session;
        }

        @Override
        public void run() {
            synchronized (this) {
                Native.interrupterFree(interrupter);
                interrupter = 0;
            }
            long h = session;
            session = 0;
            Native.sessionClose(h);
        }
    }

    private final ZiggyDb db;
    private final Handle handle;
    private final Cleaner.Cleanable cleanable;

    Session(ZiggyDb db, long session) {
        this.db = db;
        this.handle = new Handle(session);
        this.cleanable = ZiggyDb.CLEANER.register(this, handle);
        handle.interrupter = Native.interrupterOpen(session);
    }

    /**
     * Ends the wait of the blocking command ({@code BLPOP}, {@code BRPOP}, {@code BLMOVE},
     * {@code BZPOPMIN}, ...) this session runs now in another thread, which then returns
     * {@code null} as if its timeout had passed; if none runs, the session's next blocking
     * command returns at once. Callable from any thread, also while {@link
     * #execute(String...)} runs; does nothing once the session is closed.
     */
    public void interrupt() {
        synchronized (handle) {
            Native.interrupt(handle.interrupter);
        }
    }

    /** The next Pub/Sub message of the session, for {@link PubSub}. */
    synchronized Object nextMessage(long timeoutMs, boolean bulkAsString) {
        if (handle.session == 0) {
            throw new ZiggyException.Closed("the session is closed");
        }
        try {
            return Native.sessionNextMessage(handle.session, timeoutMs, bulkAsString);
        } finally {
            java.lang.ref.Reference.reachabilityFence(this);
        }
    }

    private synchronized Object run(byte[][] args, boolean bulkAsString) {
        if (handle.session == 0) {
            throw new ZiggyException.Closed("the session is closed");
        }
        db.checkNotInTransaction("a session's command");
        try {
            return Native.sessionExec(handle.session, args, bulkAsString);
        } finally {
            java.lang.ref.Reference.reachabilityFence(this);
        }
    }

    /** Runs one command in the session; bulk strings as {@code String}. */
    public Object execute(String... args) {
        return run(ZiggyCommands.toBytes(args), true);
    }

    /** {@link #execute(String...)} with bulk strings as {@code byte[]}. */
    public Object executeBinary(String... args) {
        return run(ZiggyCommands.toBytes(args), false);
    }

    /** {@link #execute(String...)} with binary arguments; bulk strings as {@code byte[]}. */
    public Object execute(byte[]... args) {
        Objects.requireNonNull(args, "args");
        for (byte[] a : args) {
            Objects.requireNonNull(a, "a command argument is null");
        }
        return run(args.clone(), false);
    }

    /** Whether {@link #close()} has run. */
    public synchronized boolean isClosed() {
        return handle.session == 0;
    }

    /**
     * Closes the session: a {@code BEGIN} transaction still open is rolled back, a {@code
     * MULTI} queue discarded. Idempotent.
     */
    @Override
    public synchronized void close() {
        cleanable.clean();
    }
}
