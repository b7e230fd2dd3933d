package ziggydb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MaintenanceTest {
    @TempDir Path tmp;

    static Options small() {
        return new Options().segmentSize(64 << 10).autoCompact(false).activeExpiry(null);
    }

    @Test
    void metricsCountWhatThisProcessDid() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"), small())) {
            for (int i = 0; i < 10; i++) {
                db.set("k" + i, "v" + i);
            }
            Metrics before = db.metrics();
            assertEquals(10, before.keys());
            assertTrue(before.commits() >= 10, before.toString());
            assertEquals(1, before.processes());
            db.get("k1");
            db.get("k2");
            db.get("missing");
            db.execute("GET", "k3");
            db.set("k0", "again");
            Metrics after = db.metrics();
            assertEquals(before.hits() + 3, after.hits(), after.toString());
            assertEquals(before.misses() + 1, after.misses(), after.toString());
            assertEquals(before.commands() + 1, after.commands(), after.toString());
            assertEquals(before.commits() + 1, after.commits(), after.toString());
            assertTrue(after.deadBytes() > before.deadBytes(), "an overwrite leaves a dead record");
            assertEquals(10, after.keys());
        }
    }

    @Test
    void compactReclaimsOverwrittenRecordsAndKeepsTheLiveOnes() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"), small())) {
            byte[] big = new byte[1000];
            for (int round = 0; round < 20; round++) {
                for (int i = 0; i < 20; i++) {
                    big[0] = (byte) round;
                    db.set(("k" + i).getBytes(StandardCharsets.UTF_8), big);
                }
            }
            Metrics before = db.metrics();
            assertTrue(before.segments() > 2, before.toString());
            CompactStats c = db.compact();
            assertTrue(c.segmentsRemoved() > 0, c.toString());
            assertTrue(c.bytesAfter() < c.bytesBefore(), c.toString());
            assertTrue(db.metrics().deadBytes() < before.deadBytes());
            for (int i = 0; i < 20; i++) {
                assertEquals(19, db.get(("k" + i).getBytes(StandardCharsets.UTF_8))[0]);
            }
            assertTrue(db.check().ok());
            db.transaction(tx -> assertThrows(ZiggyException.TxnActive.class, db::compact));
        }
    }

    @Test
    void backupCopiesTheLiveDatabase() {
        Path dest = tmp.resolve("copy");
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.set("a", "1");
            db.set("n", 42L);
            db.execute("RPUSH", "l", "x", "y");
            BackupStats b = db.backup(dest);
            assertEquals(3, b.keys(), b.toString());
            assertTrue(b.bytes() > 0 && b.segments() > 0, b.toString());
            db.set("a", "after the backup");
            // A second backup into the same (now not empty) directory is refused.
            ZiggyException e = assertThrows(ZiggyException.class, () -> db.backup(dest));
            assertFalse(e.getMessage().isEmpty());
        }
        try (ZiggyDb copy = ZiggyDb.open(dest)) {
            assertEquals("1", copy.get("a"));
            assertEquals(42L, copy.getValue("n").asLong());
            assertEquals(List.of("x", "y"), copy.execute("LRANGE", "l", "0", "-1"));
        }
    }

    @Test
    void checkFindsADamagedRecord() throws Exception {
        Path dir = tmp.resolve("db");
        String marker = "a value to damage: 0123456789abcdef";
        try (ZiggyDb db = ZiggyDb.open(dir)) {
            db.set("victim", marker);
            db.set("other", "fine");
            CheckReport r = db.check();
            assertTrue(r.ok(), r.toString());
            assertEquals(List.of(), r.problemLines());
            assertTrue(r.records() >= 2 && r.keys() == 2, r.toString());
        }
        // Flip one byte of the value inside its segment file.
        List<Path> segments;
        try (Stream<Path> files = Files.list(dir)) {
            segments = files.filter(p -> p.getFileName().toString().startsWith("seg-"))
                    .collect(Collectors.toList());
        }
        boolean flipped = false;
        for (Path seg : segments) {
            byte[] all = Files.readAllBytes(seg);
            int at = indexOf(all, marker.getBytes(StandardCharsets.UTF_8));
            if (at >= 0) {
                try (RandomAccessFile f = new RandomAccessFile(seg.toFile(), "rw")) {
                    f.seek(at + 5);
                    f.write(all[at + 5] ^ 0x20);
                }
                flipped = true;
            }
        }
        assertTrue(flipped, "the value was not found in a segment file");
        try (ZiggyDb db = ZiggyDb.open(dir)) {
            CheckReport r = db.check();
            assertFalse(r.ok(), r.toString());
            assertEquals(r.problems(), r.problemLines().size(), r.toString());
            ZiggyException e = assertThrows(ZiggyException.class, () -> db.get("victim"));
            assertTrue(e instanceof ZiggyException.ChecksumMismatch || e instanceof ZiggyException.CorruptSegment,
                    e.toString());
            assertEquals("fine", db.get("other"));
        }
    }

    static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
