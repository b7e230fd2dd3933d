package ziggydb;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A Pub/Sub subscriber ({@link ZiggyDb#pubsub()}): a session of its own, subscribed to
 * channels and patterns, receiving what any process on the directory publishes to them
 * ({@code PUBLISH}), in publish order per publisher.
 *
 * <pre>{@code
 * try (PubSub p = db.pubsub()) {
 *     p.subscribe("news");
 *     PubSub.Message m = p.getMessage(1000);   // the "subscribe" reply
 *     m = p.getMessage(-1);                    // waits for a message
 *     String text = m.dataAsString();
 * }
 * }</pre>
 *
 * <p>Calls are serialized; close it to end its subscriptions. A subscriber that fell further
 * behind than the shared ring holds gets {@link ZiggyException} ({@code SUBSCRIBER_OVERRUN})
 * from {@link #getMessage(long)} and is no longer subscribed.
 */
public final class PubSub implements AutoCloseable {
    /**
     * A message ({@code type} "message", or "pmessage" for one that matched a pattern), or
     * the reply to a subscription change ("subscribe", "psubscribe", "unsubscribe",
     * "punsubscribe": {@code channel} is the channel or pattern, {@code count} the number of
     * subscriptions left, {@code data} null).
     *
     * @param type the kind
     * @param pattern the pattern a "pmessage" matched, else null
     * @param channel the channel (or pattern of a subscription reply)
     * @param data the payload of a message, else null
     * @param count the subscriptions left after a subscription reply, else 0
     */
    public record Message(String type, String pattern, String channel, byte[] data, long count) {
        /** The payload as UTF-8 text, or null. */
        public String dataAsString() {
            return data == null ? null : new String(data, StandardCharsets.UTF_8);
        }
    }

    private final Session session;
    private final ArrayDeque<Object> pending = new ArrayDeque<>();

    PubSub(Session session) {
        this.session = session;
    }

    private synchronized void command(String name, String[] names) {
        Objects.requireNonNull(names, "names");
        byte[][] args = new byte[names.length + 1][];
        args[0] = name.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < names.length; i++) {
            args[i + 1] = Objects.requireNonNull(names[i], "a channel or pattern is null")
                .getBytes(StandardCharsets.UTF_8);
        }
        // A command's first reply comes back here, its others (one per channel) through
        // getMessage: the first is kept for getMessage, in order.
        pending.add(session.execute(args));
    }

    /** Subscribes to channels (SUBSCRIBE); a "subscribe" Message follows for each. */
    public void subscribe(String... channels) {
        command("SUBSCRIBE", channels);
    }

    /** Subscribes to glob-style patterns (PSUBSCRIBE), e.g. {@code "news.*"}. */
    public void psubscribe(String... patterns) {
        command("PSUBSCRIBE", patterns);
    }

    /** Unsubscribes from channels, or from every channel if none is given. */
    public void unsubscribe(String... channels) {
        command("UNSUBSCRIBE", channels);
    }

    /** Unsubscribes from patterns, or from every pattern if none is given. */
    public void punsubscribe(String... patterns) {
        command("PUNSUBSCRIBE", patterns);
    }

    /**
     * The next message, waiting up to {@code timeoutMs} milliseconds (0: only what is there;
     * negative: until one comes); null if none came.
     */
    public synchronized Message getMessage(long timeoutMs) {
        Object raw = pending.poll();
        if (raw == null) {
            raw = session.nextMessage(timeoutMs, false);
            if (raw == null) {
                return null;
            }
        }
        return toMessage(raw);
    }

    private static String text(Object o) {
        if (o instanceof byte[] b) {
            return new String(b, StandardCharsets.UTF_8);
        }
        return o == null ? null : o.toString();
    }

    private static Message toMessage(Object raw) {
        if (!(raw instanceof List<?> items) || items.size() < 3) {
            throw new ZiggyException.Internal("not a Pub/Sub message from the library: " + raw);
        }
        List<Object> rest = new ArrayList<>(items);
        String type = text(rest.remove(0));
        String pattern = null;
        if (type.equals("pmessage") && rest.size() == 3) {
            pattern = text(rest.remove(0));
        }
        String channel = text(rest.get(0));
        Object last = rest.get(1);
        if (last instanceof Long n) {
            return new Message(type, pattern, channel, null, n);
        }
        return new Message(type, pattern, channel, (byte[]) last, 0);
    }

    /** Whether {@link #close()} has run. */
    public boolean isClosed() {
        return session.isClosed();
    }

    /** Ends the subscriptions and closes the session. Idempotent. */
    @Override
    public synchronized void close() {
        pending.clear();
        session.close();
    }
}
