package ziggydb;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ThreadsTest {
    @TempDir Path tmp;

    static final int THREADS = 16;

    /** Runs `body(i)` on THREADS threads started together; rethrows the first failure. */
    static void onThreads(ThrowingIntConsumer body) throws Exception {
        CountDownLatch start = new CountDownLatch(1);
        ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int id = t;
            Thread th = new Thread(() -> {
                try {
                    start.await();
                    body.accept(id);
                } catch (Throwable e) {
                    failures.add(e);
                }
            }, "worker-" + t);
            th.start();
            threads.add(th);
        }
        start.countDown();
        for (Thread th : threads) {
            th.join();
        }
        if (!failures.isEmpty()) {
            Throwable first = failures.peek();
            if (first instanceof Exception) {
                throw (Exception) first;
            }
            throw new AssertionError(first);
        }
    }

    interface ThrowingIntConsumer {
        void accept(int i) throws Exception;
    }

    @Test
    void sixteenThreadsShareOneDatabase() throws Exception {
        Options opts = new Options().durability(Durability.BATCHED).lockTimeout(Duration.ofMinutes(2));
        int perThread = 200;
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"), opts)) {
            onThreads(t -> {
                byte[] mine = {'t', 0, (byte) t};
                for (int i = 0; i < perThread; i++) {
                    db.incr("counter");
                    byte[] v = {(byte) t, 0, (byte) i};
                    db.set(mine, v);
                    assertArrayEquals(v, db.get(mine));
                    db.set("s" + t, "thread " + t + " step " + i);
                    assertEquals("thread " + t + " step " + i, db.get("s" + t));
                    if (i % 20 == 0) {
                        db.transaction(tx -> {
                            long a = tx.incr("pair:a");
                            long b = tx.incr("pair:b");
                            assertEquals(a, b);
                        });
                        db.execute("RPUSH", "log", "t" + t);
                    }
                }
            });
            assertEquals((long) THREADS * perThread, db.getLong("counter"));
            assertEquals((long) THREADS * perThread / 20, db.getLong("pair:a"));
            assertEquals(db.getLong("pair:a"), db.getLong("pair:b"));
            assertEquals((long) THREADS * perThread / 20, db.execute("LLEN", "log"));
        }
    }

    @Test
    void closeRacingCallsOnOtherThreadsNeverCrashes() throws Exception {
        long liveBefore = Native.liveDatabases();
        for (int round = 0; round < 5; round++) {
            ZiggyDb db = ZiggyDb.open(tmp.resolve("db" + round), new Options().durability(Durability.BATCHED));
            db.set("k", "v");
            AtomicLong ok = new AtomicLong();
            AtomicLong closed = new AtomicLong();
            CountDownLatch running = new CountDownLatch(THREADS);
            Thread closer = new Thread(() -> {
                try {
                    running.await();
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
                db.close();
            });
            closer.start();
            onThreads(t -> {
                running.countDown();
                // Until the database is closed under them: every call either answers or throws
                // Closed, whichever side of close() it falls on; none touches a freed handle.
                for (int i = 0; i < 1_000_000; i++) {
                    try {
                        switch (i % 4) {
                            case 0:
                                assertEquals("v", db.get("k"));
                                break;
                            case 1:
                                db.incr("n");
                                break;
                            case 2:
                                assertEquals("v", db.execute("GET", "k"));
                                break;
                            default:
                                db.transaction(tx -> tx.incr("n"));
                        }
                        ok.incrementAndGet();
                    } catch (ZiggyException.Closed e) {
                        closed.incrementAndGet();
                        return;
                    }
                }
            });
            closer.join();
            assertTrue(db.isClosed());
            assertEquals(THREADS, closed.get(), "every thread saw the close");
            assertTrue(ok.get() > 0);
            // What the threads wrote before the close is there.
            try (ZiggyDb again = ZiggyDb.open(tmp.resolve("db" + round), new Options().durability(Durability.BATCHED))) {
                assertTrue(again.getLong("n") > 0);
            }
        }
        assertEquals(liveBefore, Native.liveDatabases());
        assertEquals(0, Native.liveTransactions());
    }
}
