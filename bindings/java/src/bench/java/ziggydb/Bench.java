package ziggydb;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The Java side of bindings/java/bench.sh: per-call cost of get, set, incr and
 * execute("INCR") through the binding, timed as the Rust side (src/bench/rust/calls.rs) times
 * the library calls, on the same database and options.
 *
 * <p>Also the binding's own part of every call: an empty JNI call and the read lock against
 * {@code close()}.
 *
 * <p>{@code java -cp ziggydb.jar:bench ziggydb.Bench DIR N ROUND_MS}: prints "name ns" lines,
 * the best ns per call of 15 rounds (after a warm-up for the JIT).
 */
public final class Bench {
    private Bench() {}

    static byte[] key(long i) {
        return String.format("key-%016x", i * 0x9e3779b97f4a7c15L).getBytes(StandardCharsets.UTF_8);
    }

    interface Call {
        void run(int i);
    }

    static volatile Object sink;

    static double measure(long roundNs, int n, Call f) {
        // Warm-up, untimed: long enough for the JIT to compile the call path on a loaded
        // machine, whatever the round length.
        long warm = System.nanoTime();
        for (int i = 0; System.nanoTime() - warm < 300_000_000L; i++) {
            f.run(i % n);
        }
        double best = Double.MAX_VALUE;
        for (int round = 0; round < 16; round++) {
            long start = System.nanoTime();
            long calls = 0;
            while (System.nanoTime() - start < roundNs) {
                for (int j = 0; j < 100; j++) {
                    f.run((int) (calls % n));
                    calls++;
                }
            }
            double ns = (double) (System.nanoTime() - start) / calls;
            if (round > 0) { // and round 0 as the others do
                best = Math.min(best, ns);
            }
        }
        return best;
    }

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        int n = Integer.parseInt(args[1]);
        long roundNs = Long.parseLong(args[2]) * 1_000_000L;
        byte[][] keys = new byte[n][];
        String[] skeys = new String[n];
        for (int i = 0; i < n; i++) {
            keys[i] = key(i);
            skeys[i] = new String(keys[i], StandardCharsets.UTF_8);
        }
        byte[] value = new byte[100];
        java.util.Arrays.fill(value, (byte) 'v');
        Options opts = new Options()
                .durability(Durability.BATCHED)
                .batchDelay(Duration.ofMillis(100))
                .activeExpiry(null)
                .autoCompact(false);
        try (ZiggyDb db = ZiggyDb.open(dir, opts)) {
            System.out.printf("java get %.0f%n", measure(roundNs, n, i -> sink = db.get(keys[i])));
            System.out.printf("java get-string %.0f%n", measure(roundNs, n, i -> sink = db.get(skeys[i])));
            System.out.printf("java set %.0f%n", measure(roundNs, n, i -> db.set(keys[i], value)));
            System.out.printf("java incr %.0f%n", measure(roundNs, n, i -> sink = db.incr("counter")));
            System.out.printf("java execute-INCR %.0f%n",
                    measure(roundNs, n, i -> sink = db.execute("INCR", "counter")));
            System.out.printf("java execute-GET %.0f%n",
                    measure(roundNs, n, i -> sink = db.execute("GET", skeys[i])));
        }
        // The binding's own part of a call, apart from the library's: an empty JNI call and
        // the read lock every call takes against close().
        System.out.printf("java jni-call %.0f%n", measure(roundNs, n, i -> sink = Native.liveDatabases()));
        java.util.concurrent.locks.StampedLock lock = new java.util.concurrent.locks.StampedLock();
        System.out.printf("java close-lock %.0f%n", measure(roundNs, n, i -> {
            long stamp = lock.readLock();
            sink = stamp;
            lock.unlockRead(stamp);
        }));
    }
}
