package ziggydb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SessionTest {
    @TempDir Path tmp;

    @Test
    void multiExecQueuesAndRunsTogether() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db")); Session s = db.session()) {
            db.execute("RPUSH", "l", "a");
            assertEquals("OK", s.execute("MULTI"));
            assertEquals("QUEUED", s.execute("SET", "k", "v"));
            assertEquals("QUEUED", s.execute("INCR", "l"));
            assertEquals("QUEUED", s.execute("INCR", "n"));
            assertNull(db.get("k"), "nothing runs before EXEC");
            List<?> r = assertInstanceOf(List.class, s.execute("EXEC"));
            assertEquals(3, r.size());
            assertEquals("OK", r.get(0));
            // The failed command is an element, not thrown; the others ran.
            ZiggyException e = assertInstanceOf(ZiggyException.WrongType.class, r.get(1));
            assertTrue(e.getMessage().startsWith("WRONGTYPE"), e.getMessage());
            assertEquals(1L, r.get(2));
            assertEquals("v", db.get("k"));
            assertEquals("OK", s.execute("MULTI"));
            s.execute("SET", "k", "discarded");
            assertEquals("OK", s.execute("DISCARD"));
            assertEquals("v", db.get("k"));
        }
    }

    @Test
    void watchedKeyChangedMakesExecNull() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db")); Session s = db.session()) {
            db.set("balance", "100");
            assertEquals("OK", s.execute("WATCH", "balance"));
            long balance = Long.parseLong((String) s.execute("GET", "balance"));
            db.set("balance", "50"); // another client changes it
            s.execute("MULTI");
            s.execute("SET", "balance", Long.toString(balance - 10));
            assertNull(s.execute("EXEC"));
            assertEquals("50", db.get("balance"));
        }
    }

    @Test
    void beginCommitAndRollback() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db")); Session s = db.session()) {
            assertEquals("OK", s.execute("BEGIN"));
            s.execute("SET", "a", "1");
            assertEquals("1", s.execute("GET", "a"));
            assertNull(db.get("a"));
            assertEquals("OK", s.execute("COMMIT"));
            assertEquals("1", db.get("a"));
            s.execute("BEGIN");
            s.execute("SET", "a", "2");
            assertEquals("OK", s.execute("ROLLBACK"));
            assertEquals("1", db.get("a"));
        }
    }

    @Test
    void closeRollsBackAnOpenBeginAndReleasesTheLock() {
        Options opts = new Options().lockTimeout(Duration.ofSeconds(60));
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"), opts)) {
            long before = Native.liveSessions();
            Session s = db.session();
            assertEquals(before + 1, Native.liveSessions());
            s.execute("BEGIN");
            s.execute("SET", "a", "uncommitted");
            s.close();
            s.close();
            assertEquals(before, Native.liveSessions());
            assertTrue(s.isClosed());
            ZiggyException e = assertThrows(ZiggyException.Closed.class, () -> s.execute("GET", "a"));
            assertEquals(ErrorCode.CLOSED, e.code());
            assertNull(db.get("a"));
            db.set("a", "free"); // the writer lock was released
            assertEquals("free", db.get("a"));
        }
    }

    private WeakReference<Session> forgetSessionInBegin(ZiggyDb db) {
        Session s = db.session();
        s.execute("BEGIN");
        s.execute("SET", "a", "forgotten");
        return new WeakReference<>(s);
    }

    @Test
    void aForgottenSessionIsClosedByTheCleaner() throws Exception {
        Options opts = new Options().lockTimeout(Duration.ofSeconds(60));
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"), opts)) {
            long before = Native.liveSessions();
            WeakReference<Session> ref = forgetSessionInBegin(db);
            long deadline = System.nanoTime() + 60_000_000_000L;
            while ((ref.get() != null || Native.liveSessions() != before) && System.nanoTime() < deadline) {
                System.gc();
                Thread.sleep(20);
            }
            assertEquals(before, Native.liveSessions(), "the Cleaner did not close the session");
            assertNull(db.get("a"), "the forgotten BEGIN was rolled back");
            db.set("a", "written");
            assertEquals("written", db.get("a"));
        }
    }

    @Test
    void aSessionCommandInsideATransactionBodyFailsAtOnce() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db")); Session s = db.session()) {
            db.transaction(tx -> {
                tx.set("k", "v");
                ZiggyException e = assertThrows(ZiggyException.TxnActive.class, () -> s.execute("SET", "x", "y"));
                assertEquals(ErrorCode.TXN_ACTIVE, e.code());
            });
            assertEquals("v", s.execute("GET", "k"));
            assertEquals("OK", s.execute("SET", "x", "y"));
        }
    }

    @Test
    void aSessionOutlivesItsDatabaseHandle() {
        ZiggyDb db = ZiggyDb.open(tmp.resolve("db"));
        try (Session s = db.session()) {
            db.close();
            assertEquals("OK", s.execute("SET", "k", "v"));
            assertEquals("v", s.execute("GET", "k"));
            assertThrows(ZiggyException.Closed.class, db::session);
        }
    }
}
