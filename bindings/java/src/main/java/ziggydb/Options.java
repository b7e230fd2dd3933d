package ziggydb;

import java.time.Duration;
import java.util.Objects;

/**
 * How {@link ZiggyDb#open(java.nio.file.Path, Options)} opens a database: a fluent builder whose
 * fresh state is the library's defaults (immediate durability, 10 s lock timeout, 64 MiB
 * segments, automatic compaction, expiry every 100 ms, read-write, mode 0600).
 *
 * <pre>{@code
 * ZiggyDb.open(dir, new Options().durability(Durability.BATCHED).batchDelay(Duration.ofMillis(20)))
 * }</pre>
 *
 * <p>A second open of one directory in one JVM must ask for the same options
 * ({@link ZiggyException.OptionsMismatch} otherwise).
 */
public final class Options {
    Durability durability = Durability.IMMEDIATE;
    long batchDelayMs = 50;
    long lockTimeoutMs = 10_000;
    long segmentSize = 0;
    boolean autoCompact = true;
    long activeExpiryMs = 100;
    boolean readOnly = false;
    int mode = 0;

    /** The defaults. */
    public Options() {}

    /** {@link Durability#IMMEDIATE} (the default) or {@link Durability#BATCHED}. */
    public Options durability(Durability durability) {
        this.durability = Objects.requireNonNull(durability, "durability");
        return this;
    }

    /** With batched durability, the longest time from a commit to its fsync (default 50 ms). */
    public Options batchDelay(Duration delay) {
        long ms = nonNegativeMillis(delay, "batchDelay");
        if (ms > 0xffff_ffffL) {
            throw new ZiggyException.InvalidArgument("batchDelay is longer than 2^32 ms");
        }
        this.batchDelayMs = ms;
        return this;
    }

    /**
     * How long a write waits for the writer lock before {@link ZiggyException.Busy} (default
     * 10 s); null waits forever.
     */
    public Options lockTimeout(Duration timeout) {
        this.lockTimeoutMs = timeout == null ? -1 : nonNegativeMillis(timeout, "lockTimeout");
        return this;
    }

    /**
     * Size of a new segment file in bytes, 64 KiB to 4 GiB - 1 (default 64 MiB). A value or a
     * transaction must fit in one segment.
     */
    public Options segmentSize(long bytes) {
        if (bytes < 0) {
            throw new ZiggyException.InvalidArgument("segmentSize is negative: " + bytes);
        }
        this.segmentSize = bytes;
        return this;
    }

    /** Compact in a background thread when half the bytes are dead (default true). */
    public Options autoCompact(boolean on) {
        this.autoCompact = on;
        return this;
    }

    /**
     * How often a background thread deletes expired keys (default 100 ms); null: never
     * (expired keys still read as missing).
     */
    public Options activeExpiry(Duration every) {
        this.activeExpiryMs = every == null ? -1 : nonNegativeMillis(every, "activeExpiry");
        return this;
    }

    /** Open read-only: every write fails with {@link ZiggyException.ReadOnly} (default false). */
    public Options readOnly(boolean on) {
        this.readOnly = on;
        return this;
    }

    /**
     * File mode of a new database, e.g. {@code 0660}; 0 (the default): 0600, or the mode an
     * existing database has.
     */
    public Options mode(int mode) {
        if (mode < 0 || mode > 07777) {
            throw new ZiggyException.InvalidArgument(
                    "mode " + Integer.toOctalString(mode) + " is not a file mode");
        }
        this.mode = mode;
        return this;
    }

    private static long nonNegativeMillis(Duration d, String what) {
        Objects.requireNonNull(d, what);
        if (d.isNegative()) {
            throw new ZiggyException.InvalidArgument(what + " is negative: " + d);
        }
        try {
            return d.toMillis();
        } catch (ArithmeticException e) {
            throw new ZiggyException.InvalidArgument(what + " is too long: " + d);
        }
    }
}
