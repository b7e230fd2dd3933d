package ziggydb;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TransactionTest {
    @TempDir Path tmp;

    @Test
    void commitsWhenTheBodyReturns() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.transaction(tx -> {
                tx.set("a", "1");
                tx.set("n", 10L);
                assertEquals(11, tx.incr("n"));
                // The transaction reads its own writes.
                assertEquals("1", tx.get("a"));
                assertEquals(11L, tx.getLong("n"));
                assertEquals(Value.of(11L), tx.getValue("n"));
                assertTrue(tx.delete("a"));
                assertNull(tx.get("a"));
                tx.set(new byte[] {0, 1}, new byte[] {2, 0});
                tx.setValue("when", Value.ofTimestampMillis(5));
            });
            assertNull(db.get("a"));
            assertEquals(11L, db.getLong("n"));
            assertEquals(2, db.get(new byte[] {0, 1})[0]);
            assertEquals(5L, db.getValue("when").asTimestampMillis());
            long r = db.transactionResult(tx -> tx.incr("n", 4));
            assertEquals(15, r);
            assertEquals(15L, db.getLong("n"));
            assertEquals(0, Native.liveTransactions());
        }
    }

    @Test
    void rollsBackAndRethrowsWhenTheBodyThrows() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.set("n", 1L);
            IOException checked = new IOException("checked");
            IOException thrown = assertThrows(IOException.class, () -> db.transaction(tx -> {
                tx.set("n", 2L);
                tx.set("other", "x");
                throw checked;
            }));
            assertSame(checked, thrown);
            IllegalStateException unchecked = new IllegalStateException("unchecked");
            assertSame(unchecked, assertThrows(IllegalStateException.class, () -> db.transaction(tx -> {
                tx.incr("n");
                throw unchecked;
            })));
            AssertionError error = new AssertionError("an Error");
            assertSame(error, assertThrows(AssertionError.class, () -> db.transactionResult(tx -> {
                tx.incr("n");
                throw error;
            })));
            // A library error inside the body rolls back what came before it.
            assertThrows(ZiggyException.NotAnInteger.class, () -> db.transaction(tx -> {
                tx.set("n", 100L);
                tx.set("word", "w");
                tx.incr("word");
            }));
            assertEquals(1L, db.getLong("n"));
            assertNull(db.get("other"));
            assertNull(db.get("word"));
            assertEquals(0, Native.liveTransactions());
        }
    }

    @Test
    void executeRunsAnyCommandInsideTheTransaction() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.execute("RPUSH", "jobs", "old");
            db.transaction(tx -> {
                assertEquals(2L, tx.execute("RPUSH", "jobs", "a"));
                assertEquals(3L, tx.execute("RPUSH", "jobs", "b"));
                // Its reads see its writes; the database does not yet.
                assertEquals(java.util.List.of("old", "a", "b"), tx.execute("LRANGE", "jobs", "0", "-1"));
                assertEquals(2L, tx.execute("HSET", "h", "f", "1", "g", "2"));
                assertTrue(db.exists("jobs"));
                assertFalse(db.exists("h"), "the database sees the transaction's hash before the commit");
                tx.set("n", 5L);
                assertEquals(6L, tx.execute("INCR", "n"));
                assertEquals(7L, tx.incr("n"));
                byte[] bin = {0, 1, 0};
                assertEquals(1L, tx.execute("RPUSH".getBytes(), "bin".getBytes(), bin));
                assertArrayEquals(bin, (byte[]) tx.execute("LPOP".getBytes(), "bin".getBytes()));
                // A command that fails is thrown, and leaves the transaction as it was.
                ZiggyException e = assertThrows(ZiggyException.WrongType.class, () -> tx.execute("INCR", "jobs"));
                assertEquals(ErrorCode.WRONG_TYPE, e.code());
                assertThrows(ZiggyException.CommandError.class, () -> tx.execute("MULTI"));
                assertThrows(ZiggyException.CommandError.class, () -> tx.execute("NOSUCHCOMMAND"));
                assertEquals(3L, tx.execute("LLEN", "jobs"));
            });
            assertEquals(java.util.List.of("old", "a", "b"), db.execute("LRANGE", "jobs", "0", "-1"));
            assertEquals("1", db.execute("HGET", "h", "f"));
            assertEquals(7L, db.getLong("n"));
            // Thrown out of the body, the same commands are rolled back.
            assertThrows(IllegalStateException.class, () -> db.transaction(tx -> {
                tx.execute("RPUSH", "jobs", "lost");
                tx.execute("DEL", "h");
                throw new IllegalStateException("undo");
            }));
            assertEquals(3L, db.execute("LLEN", "jobs"));
            assertEquals("2", db.execute("HGET", "h", "g"));
        }
    }

    @Test
    void typedReadsInsideATransactionMatchTheDatabasesReads() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.set("int", 7L);
            db.set("text", "-12");
            db.set("bad", "012");
            db.set("float", "2.5");
            db.set("word", "abc");
            db.set("flag", true);
            db.transaction(tx -> {
                for (String k : new String[] {"int", "text", "float", "word", "bad", "flag", "missing"}) {
                    assertSameOutcome(() -> db.getLong(k), () -> tx.getLong(k), "getLong " + k);
                    assertSameOutcome(() -> db.getDouble(k), () -> tx.getDouble(k), "getDouble " + k);
                }
                assertEquals(Boolean.TRUE, tx.getBoolean("flag"));
                assertThrows(ZiggyException.WrongType.class, () -> tx.getInstant("flag"));
            });
        }
    }

    interface Read {
        Object read();
    }

    /** Both reads return equal values, or both throw the same exception class. */
    static void assertSameOutcome(Read a, Read b, String what) {
        Object ra;
        Object rb;
        try {
            ra = a.read();
        } catch (ZiggyException e) {
            ra = e.getClass();
        }
        try {
            rb = b.read();
        } catch (ZiggyException e) {
            rb = e.getClass();
        }
        assertEquals(ra, rb, what);
    }

    @Test
    void otherThreadsSeeNothingUntilTheCommit() throws Exception {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.set("k", "old");
            CountDownLatch written = new CountDownLatch(1);
            CountDownLatch checked = new CountDownLatch(1);
            CompletableFuture<String> seen = CompletableFuture.supplyAsync(() -> {
                try {
                    assertTrue(written.await(60, TimeUnit.SECONDS));
                    return db.get("k");
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                } finally {
                    checked.countDown();
                }
            });
            db.transaction(tx -> {
                tx.set("k", "new");
                written.countDown();
                assertTrue(checked.await(60, TimeUnit.SECONDS));
            });
            assertEquals("old", seen.get(60, TimeUnit.SECONDS));
            assertEquals("new", db.get("k"));
        }
    }

    @Test
    void writesBesideTheTransactionFailAtOnceInsteadOfWaitingForItself() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.transaction(tx -> {
                tx.set("in", "tx");
                ZiggyException e = assertThrows(ZiggyException.TxnActive.class, () -> db.set("k", "v"));
                assertEquals(ErrorCode.TXN_ACTIVE, e.code());
                assertThrows(ZiggyException.TxnActive.class, () -> db.incr("k"));
                assertThrows(ZiggyException.TxnActive.class, () -> db.delete("k"));
                assertThrows(ZiggyException.TxnActive.class, () -> db.execute("SET", "k", "v"));
                assertThrows(ZiggyException.TxnActive.class, () -> db.transaction(inner -> inner.set("k", "v")));
                // Reads beside it are fine, and see the committed state.
                assertNull(db.get("in"));
            });
            assertEquals("tx", db.get("in"));
            assertNull(db.get("k"));
            // After the body, the database writes again.
            db.set("k", "v");
        }
    }

    @Test
    void aTransactionIsUsableOnlyByItsThreadAndInsideItsBody() throws Exception {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            AtomicReference<Transaction> leaked = new AtomicReference<>();
            db.transaction(tx -> {
                leaked.set(tx);
                CompletableFuture<Void> other = CompletableFuture.runAsync(() -> tx.set("x", "y"));
                Exception e = assertThrows(Exception.class, () -> other.get(60, TimeUnit.SECONDS));
                assertTrue(e.getCause() instanceof ZiggyException.InvalidArgument, e.toString());
            });
            ZiggyException e = assertThrows(ZiggyException.Closed.class, () -> leaked.get().set("x", "y"));
            assertEquals(ErrorCode.CLOSED, e.code());
            assertThrows(ZiggyException.Closed.class, () -> leaked.get().get("x"));
            assertNull(db.get("x"));
        }
    }

    @Test
    void closingInsideTheBodyLetsTheTransactionFinish() {
        ZiggyDb db = ZiggyDb.open(tmp.resolve("db"));
        db.transaction(tx -> {
            tx.set("k", "v");
            db.close();
            assertThrows(ZiggyException.Closed.class, () -> db.get("k"));
            tx.set("k2", "v2");
        });
        try (ZiggyDb again = ZiggyDb.open(tmp.resolve("db"))) {
            assertEquals("v", again.get("k"));
            assertEquals("v2", again.get("k2"));
        }
    }
}
