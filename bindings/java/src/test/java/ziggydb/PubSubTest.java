package ziggydb;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pub/Sub across processes, and blocking pops woken by another process or interrupted. */
class PubSubTest {
    @TempDir Path tmp;

    /** Runs one command in a child JVM on dir. */
    private static void inOtherProcess(Path dir, String... command) throws Exception {
        String[] args = new String[command.length + 2];
        args[0] = "exec";
        args[1] = dir.toString();
        System.arraycopy(command, 0, args, 2, command.length);
        Process p = Support.start(Child.class, args);
        p.getOutputStream().close();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the child did not finish");
        assertEquals(0, p.exitValue(), "the child failed");
    }

    /** The next message, waiting generously (a loaded machine). */
    private static PubSub.Message next(PubSub p) {
        PubSub.Message m = p.getMessage(60_000);
        if (m == null) {
            throw new AssertionError("no message within 60 s");
        }
        return m;
    }

    private static void assertMessage(PubSub.Message m, String type, String pattern, String channel,
                                      String data, long count) {
        assertEquals(type, m.type());
        assertEquals(pattern, m.pattern());
        assertEquals(channel, m.channel());
        assertArrayEquals(data == null ? null : data.getBytes(StandardCharsets.UTF_8), m.data());
        assertEquals(count, m.count());
    }

    @Test
    void subscriberGetsMessagesPublishedByAnotherProcess() throws Exception {
        Path dir = tmp.resolve("db");
        try (ZiggyDb db = ZiggyDb.open(dir)) {
            PubSub p = db.pubsub();
            p.subscribe("news", "other");
            assertMessage(next(p), "subscribe", null, "news", null, 1);
            assertMessage(next(p), "subscribe", null, "other", null, 2);
            assertNull(p.getMessage(0));
            inOtherProcess(dir, "PUBLISH", "news", "first");
            inOtherProcess(dir, "PUBLISH", "nobody", "x");
            inOtherProcess(dir, "PUBLISH", "other", "second");
            assertMessage(next(p), "message", null, "news", "first", 0);
            PubSub.Message m = next(p);
            assertMessage(m, "message", null, "other", "second", 0);
            assertEquals("second", m.dataAsString());
            assertNull(p.getMessage(100));
            p.unsubscribe("news");
            assertMessage(next(p), "unsubscribe", null, "news", null, 1);
            inOtherProcess(dir, "PUBLISH", "news", "not for us");
            inOtherProcess(dir, "PUBLISH", "other", "third");
            assertEquals("third", next(p).dataAsString());
            p.close();
            assertTrue(p.isClosed());
            assertThrows(ZiggyException.Closed.class, () -> p.getMessage(0));
            assertThrows(ZiggyException.Closed.class, () -> p.subscribe("x"));
        }
    }

    @Test
    void patternSubscription() throws Exception {
        Path dir = tmp.resolve("db");
        try (ZiggyDb db = ZiggyDb.open(dir); PubSub p = db.pubsub()) {
            p.psubscribe("news.*");
            assertMessage(next(p), "psubscribe", null, "news.*", null, 1);
            inOtherProcess(dir, "PUBLISH", "news.tech", "chips");
            inOtherProcess(dir, "PUBLISH", "sport", "no");
            inOtherProcess(dir, "PUBLISH", "news.art", "paint");
            assertMessage(next(p), "pmessage", "news.*", "news.tech", "chips", 0);
            assertMessage(next(p), "pmessage", "news.*", "news.art", "paint", 0);
            ZiggyException e = assertThrows(ZiggyException.class, () -> p.psubscribe());
            assertTrue(e.getMessage().contains("wrong number of arguments"), e.getMessage());
        }
    }

    @Test
    void blockingPopWokenByAnotherProcess() throws Exception {
        Path dir = tmp.resolve("db");
        try (ZiggyDb db = ZiggyDb.open(dir); Session s = db.session()) {
            CompletableFuture<Object> popped = CompletableFuture.supplyAsync(() -> s.execute("BLPOP", "jobs", "0"));
            Thread.sleep(300);
            inOtherProcess(dir, "RPUSH", "jobs", "job-1");
            assertEquals(List.of("jobs", "job-1"), popped.get(120, TimeUnit.SECONDS));
        }
    }

    @Test
    void interruptEndsABlockingPop() throws Exception {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            Session s = db.session();
            CompletableFuture<Object> popped = CompletableFuture.supplyAsync(() -> s.execute("BLPOP", "never", "0"));
            Thread.sleep(300);
            s.interrupt();
            assertNull(popped.get(60, TimeUnit.SECONDS));
            // The session still works: its own timeout, then a pop that finds an element.
            assertNull(s.execute("BLPOP", "never", "0.05"));
            s.execute("RPUSH", "k", "v");
            assertEquals(List.of("k", "v"), s.execute("BLPOP", "k", "0"));
            s.close();
            s.interrupt(); // closed: nothing to end, no crash
        }
    }
}
