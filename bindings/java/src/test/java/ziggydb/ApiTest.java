package ziggydb;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ApiTest {
    @TempDir Path tmp;

    @Test
    void stringsRoundTripAndMissingKeysAreNull() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            assertNull(db.get("nothing"));
            assertNull(db.get(new byte[] {1, 2}));
            db.set("greeting", "héllo ✓ 😀");
            assertEquals("héllo ✓ 😀", db.get("greeting"));
            assertArrayEquals("héllo ✓ 😀".getBytes(StandardCharsets.UTF_8), db.get("greeting".getBytes(StandardCharsets.UTF_8)));
            assertEquals(ValueType.STRING, db.type("greeting"));
            db.set("greeting", "second");
            assertEquals("second", db.get("greeting"));
            assertTrue(db.exists("greeting"));
            assertFalse(db.exists("nothing"));
            assertNull(db.type("nothing"));
        }
    }

    @Test
    void binaryKeysAndValuesWithNulBytes() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            byte[] k1 = {'k', 0, 'x'};
            byte[] k2 = {'k', 0, 'y'};
            byte[] k3 = {'k'};
            byte[] v1 = {0, 0, (byte) 0xff, 0, 'z'};
            byte[] v2 = {(byte) 0x80, 0};
            db.set(k1, v1);
            db.set(k2, v2);
            db.set(k3, new byte[0]);
            // Keys differing only after a NUL are different keys, and values keep every byte.
            assertArrayEquals(v1, db.get(k1));
            assertArrayEquals(v2, db.get(k2));
            assertArrayEquals(new byte[0], db.get(k3));
            assertEquals(ValueType.BYTES, db.type(k1));
            assertNull(db.get(new byte[] {'k', 0}));
            // The empty key is a key.
            db.set(new byte[0], v2);
            assertArrayEquals(v2, db.get(new byte[0]));
            assertTrue(db.delete(k1));
            assertNull(db.get(k1));
            assertArrayEquals(v2, db.get(k2));
        }
    }

    @Test
    void largeValuesAndEveryByteValue() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            byte[] all = new byte[256];
            for (int i = 0; i < 256; i++) {
                all[i] = (byte) i;
            }
            db.set(all, all);
            assertArrayEquals(all, db.get(all));
            byte[] big = new byte[3 << 20];
            new Random(7).nextBytes(big);
            db.set("big", big);
            assertArrayEquals(big, db.get("big".getBytes(StandardCharsets.UTF_8)));
            assertArrayEquals(big, db.getBytes("big"));
        }
    }

    @Test
    void deleteSaysWhetherTheKeyExisted() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            assertFalse(db.delete("k"));
            db.set("k", "v");
            assertTrue(db.delete("k"));
            assertFalse(db.delete("k"));
            assertNull(db.get("k"));
        }
    }

    @Test
    void incrCountsFromZeroAndByDelta() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            assertEquals(1, db.incr("n"));
            assertEquals(2, db.incr("n"));
            assertEquals(-8, db.incr("n", -10));
            assertEquals(Long.valueOf(-8), db.getLong("n"));
            assertEquals("-8", db.get("n"));
            assertEquals(ValueType.INT, db.type("n"));
            db.set("text", "41");
            assertEquals(42, db.incr("text"));
            db.set("max", Long.MAX_VALUE);
            ZiggyException e = assertThrows(ZiggyException.Overflow.class, () -> db.incr("max"));
            assertEquals(ErrorCode.OVERFLOW, e.code());
            assertEquals(Long.MAX_VALUE, db.getLong("max"));
            db.set("word", "abc");
            e = assertThrows(ZiggyException.NotAnInteger.class, () -> db.incr("word"));
            assertEquals(101, e.codeNumber());
            assertEquals("abc", db.get("word"));
        }
    }

    @Test
    void dataIsThereAfterReopening() {
        Path dir = tmp.resolve("db");
        try (ZiggyDb db = ZiggyDb.open(dir)) {
            db.set("kept", "yes");
            db.incr("n", 5);
        }
        try (ZiggyDb db = ZiggyDb.open(dir, new Options().readOnly(true))) {
            assertEquals("yes", db.get("kept"));
            assertEquals(5L, db.getLong("n"));
            ZiggyException e = assertThrows(ZiggyException.ReadOnly.class, () -> db.set("x", "y"));
            assertEquals(ErrorCode.READ_ONLY, e.code());
        }
    }

    @Test
    void optionsAreChecked() {
        Options o = new Options()
                .durability(Durability.BATCHED)
                .batchDelay(java.time.Duration.ofMillis(5))
                .lockTimeout(null)
                .activeExpiry(null)
                .autoCompact(false)
                .segmentSize(1 << 20)
                .mode(0640);
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"), o)) {
            db.set("a", "b");
            db.sync();
            assertEquals("b", db.get("a"));
        }
        assertThrows(ZiggyException.InvalidArgument.class,
                () -> new Options().lockTimeout(java.time.Duration.ofMillis(-1)));
        assertThrows(ZiggyException.InvalidArgument.class, () -> new Options().mode(0100000));
        // The library checks the segment size.
        ZiggyException e = assertThrows(ZiggyException.class,
                () -> ZiggyDb.open(tmp.resolve("db2"), new Options().segmentSize(100)));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("segment"), e.getMessage());
    }

    @Test
    void versionIsTheLibrarys() {
        assertTrue(ZiggyDb.version().matches("\\d+\\.\\d+\\.\\d+.*"), ZiggyDb.version());
    }
}
