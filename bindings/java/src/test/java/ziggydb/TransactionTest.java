package ziggydb;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
