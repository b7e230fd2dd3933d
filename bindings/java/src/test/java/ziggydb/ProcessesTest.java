package ziggydb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessesTest {
    @TempDir Path tmp;

    @Test
    void severalJvmsIncrementOneCounterExactly() throws Exception {
        Path dir = tmp.resolve("db");
        int processes = 4;
        int each = 300;
        List<Process> children = new ArrayList<>();
        try {
            for (int i = 0; i < processes; i++) {
                children.add(Support.start(Child.class, "incr", dir.toString(), Integer.toString(each)));
            }
            // This JVM increments too, meanwhile, on two threads.
            try (ZiggyDb db = ZiggyDb.open(dir, new Options().lockTimeout(Duration.ofMinutes(2)))) {
                Thread[] mine = new Thread[2];
                for (int t = 0; t < mine.length; t++) {
                    mine[t] = new Thread(() -> {
                        for (int i = 0; i < each; i++) {
                            db.incr("counter");
                        }
                    });
                    mine[t].start();
                }
                for (Thread t : mine) {
                    t.join();
                }
                for (Process p : children) {
                    try (BufferedReader out = new BufferedReader(
                            new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                        assertEquals("done", out.readLine());
                    }
                    assertTrue(p.waitFor(300, TimeUnit.SECONDS), "a child did not finish");
                    assertEquals(0, p.exitValue());
                }
                assertEquals((long) (processes + 2) * each, db.getLong("counter"));
                assertEquals((long) processes * (each / 10), db.getLong("tx:a"));
                assertEquals(db.getLong("tx:a"), db.getLong("tx:b"));
            }
        } finally {
            for (Process p : children) {
                p.destroyForcibly();
            }
        }
    }
}
