package ziggydb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The all-languages worker, three Java ones at once on one directory, run from the jar alone
 * (the JNI library loaded from inside it), as the all-languages test runs it.
 */
class WorkerTest {
    @TempDir Path tmp;

    static String readAll(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        in.transferTo(b);
        return b.toString(StandardCharsets.UTF_8);
    }

    @Test
    void threeWorkersOnOneDirectory() throws Exception {
        Path dir = tmp.resolve("all");
        String[] names = {"java", "java2", "java3"};
        String peers = String.join(",", names);
        List<Process> workers = new ArrayList<>();
        try {
            for (String name : names) {
                workers.add(new ProcessBuilder(
                                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                                "-Xmx64m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                                "-cp", Support.location(ZiggyDb.class),
                                "ziggydb.AllLangWorker", dir.toString(), name, peers)
                        .start());
            }
            for (int i = 0; i < names.length; i++) {
                Process w = workers.get(i);
                String out = readAll(w.getInputStream());
                String err = readAll(w.getErrorStream());
                assertTrue(w.waitFor(300, TimeUnit.SECONDS));
                assertEquals(0, w.exitValue(), names[i] + " failed: " + err);
                assertEquals(names[i] + " ok\n", out);
            }
        } finally {
            for (Process w : workers) {
                w.destroyForcibly();
            }
        }
        try (ZiggyDb db = ZiggyDb.open(dir)) {
            assertEquals(1500L, db.getLong("all:counter"));
            assertEquals(3L, db.getLong("all:ready"));
            assertEquals(3L, db.getLong("all:done"));
            List<?> list = (List<?>) db.execute("LRANGE", "all:list", "0", "-1");
            assertEquals(300, list.size());
            // Every entry once, each worker's in its own order.
            Map<String, Integer> next = new HashMap<>();
            for (Object o : list) {
                String[] parts = ((String) o).split(":");
                int expected = next.getOrDefault(parts[0], 0);
                assertEquals(expected, Integer.parseInt(parts[1]), "entry " + o);
                next.put(parts[0], expected + 1);
            }
            for (String name : names) {
                assertEquals(100, next.get(name));
            }
        }
    }

    @Test
    void aWrongValueIsReportedAndTheExitCodeIsOne() throws Exception {
        Path dir = tmp.resolve("bad");
        try (ZiggyDb db = ZiggyDb.open(dir)) {
            // A peer "liar" that wrote its int as text and its float off by one bit, and is done.
            db.set("typed:liar:int", "-9007199254740993");
            db.set("typed:liar:float", Math.nextUp(0.1));
            db.set("typed:liar:bool", true);
            db.set("typed:liar:timestamp", java.time.Instant.ofEpochMilli(1767225600123L));
            db.setJson("typed:liar:json", "{\"list\": [1, 2.5, null, true, \"x\"], \"lang\": \"liar\"}");
            db.set("typed:liar:bytes", new byte[] {0x7a, 0x69, 0x67, 0x00, 0x67, 0x79, (byte) 0xff});
            db.set("typed:liar:string", "ziggy \u2713 liar");
            db.incr("all:done");
        }
        Process w = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-cp", Support.location(ZiggyDb.class),
                        "ziggydb.AllLangWorker", dir.toString(), "java", "java,liar")
                .start();
        String out = readAll(w.getInputStream());
        String err = readAll(w.getErrorStream());
        assertTrue(w.waitFor(300, TimeUnit.SECONDS));
        assertEquals(1, w.exitValue(), out + err);
        assertEquals("", out);
        String[] lines = err.split("\n");
        assertEquals(2, lines.length, err);
        assertTrue(lines[0].startsWith("liar int: expected INT -9007199254740993, read STRING"), lines[0]);
        assertTrue(lines[1].startsWith("liar float: expected FLOAT 0.1, read 0.10000000000000002"), lines[1]);
    }
}
