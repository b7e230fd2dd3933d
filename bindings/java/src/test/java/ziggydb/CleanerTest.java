package ziggydb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.WeakReference;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CleanerTest {
    @TempDir Path tmp;

    /** Opens a database, writes, and forgets it without closing it. */
    private WeakReference<ZiggyDb> openAndForget(Path dir) {
        ZiggyDb db = ZiggyDb.open(dir);
        db.set("written", "before it was forgotten");
        return new WeakReference<>(db);
    }

    @Test
    void aForgottenDatabaseIsClosedByTheCleaner() throws Exception {
        Path dir = tmp.resolve("db");
        long before = Native.liveDatabases();
        WeakReference<ZiggyDb> ref = openAndForget(dir);
        assertEquals(before + 1, Native.liveDatabases());
        // While it is open, this JVM holds the directory with the default options.
        assertThrows(ZiggyException.OptionsMismatch.class,
                () -> ZiggyDb.open(dir, new Options().durability(Durability.BATCHED)).close());
        // Collected and cleaned: the native handle is closed without close().
        long deadline = System.nanoTime() + 60_000_000_000L;
        while ((ref.get() != null || Native.liveDatabases() != before) && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        assertEquals(before, Native.liveDatabases(), "the Cleaner did not close the forgotten handle");
        // The directory is free again: other options are accepted now.
        try (ZiggyDb db = ZiggyDb.open(dir, new Options().durability(Durability.BATCHED))) {
            assertEquals("before it was forgotten", db.get("written"));
        }
        assertEquals(before, Native.liveDatabases());
    }

    @Test
    void closeReleasesTheHandleAtOnceAndOnlyOnce() {
        long before = Native.liveDatabases();
        ZiggyDb db = ZiggyDb.open(tmp.resolve("db"));
        ZiggyDb second = ZiggyDb.open(tmp.resolve("db"));
        assertEquals(before + 2, Native.liveDatabases());
        db.close();
        assertEquals(before + 1, Native.liveDatabases());
        db.close();
        assertEquals(before + 1, Native.liveDatabases());
        second.set("k", "v");
        second.close();
        assertEquals(before, Native.liveDatabases());
        // Closed explicitly, the Cleaner has nothing left to do: collecting must not close again.
        db = null;
        second = null;
        for (int i = 0; i < 5; i++) {
            System.gc();
        }
        assertEquals(before, Native.liveDatabases());
        try (ZiggyDb again = ZiggyDb.open(tmp.resolve("db"), new Options().durability(Durability.BATCHED))) {
            assertEquals("v", again.get("k"));
        }
        assertTrue(Native.liveDatabases() == before);
    }
}
