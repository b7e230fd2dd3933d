package ziggydb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ErrorTest {
    @TempDir Path tmp;

    @Test
    void everyCodeHasTheLibrarysNameAndItsOwnSubclass() {
        for (ErrorCode c : ErrorCode.values()) {
            if (c.number() > 0) {
                assertEquals(c.label(), Native.text(Native.errname(c.number())), c.toString());
            }
            assertEquals(c, ErrorCode.of(c.number()));
            ZiggyException e = ZiggyException.of(c, "message " + c);
            assertEquals(c, e.code());
            assertEquals("message " + c, e.getMessage());
            assertTrue(e.getClass() != ZiggyException.class, c + " has no subclass");
            assertEquals(ZiggyException.class, e.getClass().getSuperclass());
        }
        // Every code the library names is in the enum.
        for (int n = 2; n < 200; n++) {
            String name = Native.text(Native.errname(n));
            if (!name.equals("UNKNOWN")) {
                assertEquals(name, ErrorCode.of(n).label(), "code " + n);
            }
        }
        assertEquals(ErrorCode.UNKNOWN, ErrorCode.of(12345));
        assertInstanceOf(ZiggyException.Unknown.class, ZiggyException.fromNative(12345, "x".getBytes()));
    }

    @Test
    void openErrorsHaveTheirCodes() throws Exception {
        Path file = tmp.resolve("file");
        Files.writeString(file, "not a database");
        ZiggyException e = assertThrows(ZiggyException.NotADirectory.class, () -> ZiggyDb.open(file));
        assertEquals(ErrorCode.NOT_A_DIRECTORY, e.code());
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());

        Path other = tmp.resolve("other");
        Files.createDirectories(other);
        Files.writeString(other.resolve("notes.txt"), "someone else's");
        e = assertThrows(ZiggyException.NotADatabase.class, () -> ZiggyDb.open(other));
        assertEquals(40, e.codeNumber());

        Path missing = tmp.resolve("missing");
        e = assertThrows(ZiggyException.class, () -> ZiggyDb.open(missing, new Options().readOnly(true)));
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }

    @Test
    void aSecondOpenWithOtherOptionsIsRefused() {
        Path dir = tmp.resolve("db");
        try (ZiggyDb db = ZiggyDb.open(dir)) {
            ZiggyException e = assertThrows(ZiggyException.OptionsMismatch.class,
                    () -> ZiggyDb.open(dir, new Options().durability(Durability.BATCHED)));
            assertEquals(ErrorCode.OPTIONS_MISMATCH, e.code());
            // The same options share the first handle's state.
            try (ZiggyDb second = ZiggyDb.open(dir)) {
                second.set("k", "v");
                assertEquals("v", db.get("k"));
            }
            assertEquals("v", db.get("k"));
        }
    }

    @Test
    void aWriterLockHeldByAnotherProcessIsBusy() throws Exception {
        Path dir = tmp.resolve("db");
        ZiggyDb.open(dir).close();
        Process child = Support.start(Child.class, "hold", dir.toString());
        try (BufferedReader out = new BufferedReader(
                new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            assertEquals("held", out.readLine());
            try (ZiggyDb db = ZiggyDb.open(dir, new Options().lockTimeout(Duration.ofMillis(300)))) {
                ZiggyException e = assertThrows(ZiggyException.Busy.class, () -> db.set("k", "v"));
                assertEquals(ErrorCode.BUSY, e.code());
                assertTrue(e.getMessage().contains("writer.lock"), e.getMessage());
                assertThrows(ZiggyException.Busy.class, () -> db.transaction(tx -> tx.set("k", "v")));
                // Reads never wait for a writer.
                assertNull(db.get("held"));
                child.getOutputStream().close();
                assertTrue(child.waitFor(120, TimeUnit.SECONDS));
                assertEquals(0, child.exitValue());
                assertEquals("yes", db.get("held"));
                db.set("k", "v");
                assertEquals(0, Native.liveTransactions());
            }
        } finally {
            child.destroyForcibly();
        }
    }

    @Test
    void callsAfterCloseThrowClosed() {
        ZiggyDb db = ZiggyDb.open(tmp.resolve("db"));
        db.set("k", "v");
        db.close();
        db.close(); // idempotent
        assertTrue(db.isClosed());
        ZiggyException e = assertThrows(ZiggyException.Closed.class, () -> db.get("k"));
        assertEquals(ErrorCode.CLOSED, e.code());
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(ZiggyException.Closed.class, () -> db.set("k", "v"));
        assertThrows(ZiggyException.Closed.class, () -> db.execute("GET", "k"));
        assertThrows(ZiggyException.Closed.class, () -> db.transaction(tx -> tx.set("a", "b")));
        assertThrows(ZiggyException.Closed.class, () -> db.exists("k"));
    }
}
