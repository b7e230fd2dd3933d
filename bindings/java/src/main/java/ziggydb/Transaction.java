package ziggydb;

/**
 * A write transaction, given to the body of {@link ZiggyDb#transaction}: its reads see its own
 * writes, and its writes become visible to every process at once when the body returns, or
 * never if it throws. It holds the database's writer lock (of every process) meanwhile.
 *
 * <p>{@link #execute(String...)} runs any data command inside the transaction ({@code RPUSH}, {@code
 * HSET}, ...): its reads see the transaction's writes, its writes are part of it, and a command
 * that fails (thrown as a {@link ZiggyException}) leaves the transaction as it was before that
 * command; the body may catch it and go on, or let it propagate and roll everything back.
 * Transaction control ({@code MULTI}, {@code BEGIN}, ...) and whole-database commands are
 * refused.
 *
 * <p>Used from the thread that runs the body, inside the body only: from another thread, or
 * after the body ended, a call throws ({@link ZiggyException.InvalidArgument}, {@link
 * ZiggyException.Closed}) rather than touch a transaction that is gone.
 */
public final class Transaction extends ZiggyCommands {
    /** The body of {@link ZiggyDb#transaction}. */
    @FunctionalInterface
    public interface Body<E extends Exception> {
        void run(Transaction tx) throws E;
    }

    /** The body of {@link ZiggyDb#transactionResult}. */
    @FunctionalInterface
    public interface Function<T, E extends Exception> {
        T apply(Transaction tx) throws E;
    }

    private long txn;
    private final Thread owner;

    Transaction(long txn, Thread owner) {
        this.txn = txn;
        this.owner = owner;
    }

    /** The handle, after checking the thread and that the transaction has not ended. */
    private long handle() {
        if (Thread.currentThread() != owner) {
            throw new ZiggyException.InvalidArgument(
                    "a transaction is used only by the thread that runs its body ("
                            + owner.getName() + ")");
        }
        if (txn == 0) {
            throw new ZiggyException.Closed("the transaction has ended");
        }
        return txn;
    }

    void commit() {
        long h = handle();
        txn = 0;
        Native.txnCommit(h);
    }

    void rollback() {
        long h = txn;
        txn = 0;
        Native.txnRollback(h);
    }

    @Override
    byte[] rawGet(byte[] key) {
        return Native.txnGet(handle(), key);
    }

    @Override
    void rawSet(byte[] key, byte[] value) {
        Native.txnSet(handle(), key, value);
    }

    @Override
    boolean rawDelete(byte[] key) {
        return Native.txnDel(handle(), key);
    }

    @Override
    long rawIncr(byte[] key, long delta) {
        return Native.txnIncrby(handle(), key, delta);
    }

    @Override
    Value rawGetValue(byte[] key) {
        return Native.txnGetValue(handle(), key);
    }

    @Override
    void rawSetValue(byte[] key, Value v) {
        Native.txnSetValue(
                handle(), key, v.nativeType(), v.nativeInteger(), v.nativeReal(), v.nativeData());
    }

    @Override
    Object rawExecute(byte[][] args, boolean bulkAsString) {
        return Native.txnExec(handle(), args, bulkAsString);
    }
}
