package ziggydb;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Java worker of the all-languages test: {@code java -cp ziggydb.jar ziggydb.AllLangWorker
 * DIR NAME PEERS}. Writes this worker's typed values, increments the shared counter 500 times,
 * appends "NAME:i" to one list in 100 transactions, waits for every peer, then reads every
 * peer's typed values back and checks their types and values. Prints "NAME ok" and exits 0,
 * or prints one line per problem on stderr and exits 1.
 */
public final class AllLangWorker {
    private AllLangWorker() {}

    static final long INT = -9007199254740993L;
    static final double FLOAT = 0.1;
    static final long TIMESTAMP_MS = 1767225600123L;
    static final byte[] BYTES = {0x7a, 0x69, 0x67, 0x00, 0x67, 0x79, (byte) 0xff};

    static String json(String name) {
        return "{\"lang\":\"" + name + "\",\"list\":[1,2.5,null,true,\"x\"]}";
    }

    static String string(String name) {
        return "ziggy \u2713 " + name;
    }

    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: AllLangWorker DIR NAME PEERS");
            System.exit(2);
        }
        List<String> problems = new ArrayList<>();
        try {
            run(Path.of(args[0]), args[1], Arrays.asList(args[2].split(",")), problems);
        } catch (RuntimeException e) {
            problems.add(args[1] + ": " + e);
        }
        if (problems.isEmpty()) {
            System.out.println(args[1] + " ok");
            System.exit(0);
        }
        for (String p : problems) {
            System.err.println(p);
        }
        System.exit(1);
    }

    static void run(Path dir, String name, List<String> peers, List<String> problems) {
        try (ZiggyDb db = ZiggyDb.open(dir)) {
            String k = "typed:" + name + ":";
            db.set(k + "int", INT);
            db.set(k + "float", FLOAT);
            db.set(k + "bool", true);
            db.set(k + "timestamp", Instant.ofEpochMilli(TIMESTAMP_MS));
            db.setJson(k + "json", json(name));
            db.set(k + "bytes", BYTES);
            db.set(k + "string", string(name));

            db.incr("all:ready", 1);
            for (int i = 0; i < 500; i++) {
                db.incr("all:counter", 1);
            }
            for (int i = 0; i < 100; i++) {
                String item = name + ":" + i;
                db.transaction(tx -> tx.execute("RPUSH", "all:list", item));
            }

            db.incr("all:done", 1);
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (true) {
                Long done = db.getLong("all:done");
                if (done != null && done >= peers.size()) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    problems.add("timed out waiting for peers");
                    return;
                }
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    problems.add("interrupted waiting for peers");
                    return;
                }
            }

            for (String p : peers) {
                check(db, p, problems);
            }
        }
    }

    /** Reads `typed:P:<kind>` of peer P and adds a problem line for each mismatch. */
    static void check(ZiggyDb db, String p, List<String> problems) {
        String k = "typed:" + p + ":";
        expect(problems, p, "int", db, k + "int", ValueType.INT, v -> v.asLong() == INT,
                Long.toString(INT), v -> Long.toString(v.asLong()));
        expect(problems, p, "float", db, k + "float", ValueType.FLOAT,
                v -> Double.doubleToRawLongBits(v.asDouble()) == Double.doubleToRawLongBits(FLOAT),
                Double.toString(FLOAT), v -> Double.toString(v.asDouble()));
        expect(problems, p, "bool", db, k + "bool", ValueType.BOOL, Value::asBoolean, "true",
                v -> Boolean.toString(v.asBoolean()));
        expect(problems, p, "timestamp", db, k + "timestamp", ValueType.TIMESTAMP,
                v -> v.asInstant().equals(Instant.ofEpochMilli(TIMESTAMP_MS)),
                Instant.ofEpochMilli(TIMESTAMP_MS).toString(), v -> v.asInstant().toString());
        expect(problems, p, "json", db, k + "json", ValueType.JSON,
                v -> Json.parse(v.asJson()).equals(Json.parse(json(p))), json(p), Value::asJson);
        expect(problems, p, "bytes", db, k + "bytes", ValueType.BYTES,
                v -> Arrays.equals(v.asBytes(), BYTES), Arrays.toString(BYTES),
                v -> Arrays.toString(v.asBytes()));
        expect(problems, p, "string", db, k + "string", ValueType.STRING,
                v -> v.asString().equals(string(p)), string(p), Value::asString);
    }

    interface Check {
        boolean ok(Value v);
    }

    interface Show {
        String show(Value v);
    }

    static void expect(List<String> problems, String peer, String kind, ZiggyDb db, String key,
            ValueType type, Check ok, String expected, Show show) {
        Value v;
        try {
            v = db.getValue(key);
        } catch (ZiggyException e) {
            problems.add(peer + " " + kind + ": expected " + type + " " + expected + ", read failed: " + e);
            return;
        }
        if (v == null) {
            problems.add(peer + " " + kind + ": expected " + type + " " + expected + ", read nothing");
        } else if (v.type() != type) {
            problems.add(peer + " " + kind + ": expected " + type + " " + expected + ", read "
                    + v.type() + " " + v);
        } else if (!ok.ok(v)) {
            problems.add(peer + " " + kind + ": expected " + type + " " + expected + ", read "
                    + show.show(v));
        }
    }

    /**
     * Just enough JSON to compare documents structurally: objects as maps, arrays as lists,
     * numbers as doubles, strings, booleans and null (as {@link #NULL}).
     */
    static final class Json {
        static final Object NULL = new Object() {
            @Override
            public String toString() {
                return "null";
            }
        };

        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String text) {
            Json p = new Json(text);
            Object v = p.value();
            p.space();
            if (p.i != text.length()) {
                throw new IllegalArgumentException("trailing text in JSON at " + p.i);
            }
            return v;
        }

        private void space() {
            while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
        }

        private IllegalArgumentException bad() {
            return new IllegalArgumentException("bad JSON at " + i + ": " + s);
        }

        private Object value() {
            space();
            if (i >= s.length()) {
                throw bad();
            }
            char c = s.charAt(i);
            if (c == '{') {
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                space();
                if (s.charAt(i) == '}') {
                    i++;
                    return m;
                }
                while (true) {
                    space();
                    Object key = value();
                    if (!(key instanceof String)) {
                        throw bad();
                    }
                    space();
                    if (s.charAt(i++) != ':') {
                        throw bad();
                    }
                    m.put((String) key, value());
                    space();
                    char d = s.charAt(i++);
                    if (d == '}') {
                        return m;
                    }
                    if (d != ',') {
                        throw bad();
                    }
                }
            }
            if (c == '[') {
                i++;
                List<Object> l = new ArrayList<>();
                space();
                if (s.charAt(i) == ']') {
                    i++;
                    return l;
                }
                while (true) {
                    l.add(value());
                    space();
                    char d = s.charAt(i++);
                    if (d == ']') {
                        return l;
                    }
                    if (d != ',') {
                        throw bad();
                    }
                }
            }
            if (c == '"') {
                StringBuilder b = new StringBuilder();
                i++;
                while (true) {
                    char d = s.charAt(i++);
                    if (d == '"') {
                        return b.toString();
                    }
                    if (d == '\\') {
                        char e = s.charAt(i++);
                        switch (e) {
                            case 'n': b.append('\n'); break;
                            case 't': b.append('\t'); break;
                            case 'r': b.append('\r'); break;
                            case 'b': b.append('\b'); break;
                            case 'f': b.append('\f'); break;
                            case 'u':
                                b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                                i += 4;
                                break;
                            default: b.append(e);
                        }
                    } else {
                        b.append(d);
                    }
                }
            }
            for (String word : new String[] {"true", "false", "null"}) {
                if (s.startsWith(word, i)) {
                    i += word.length();
                    return word.equals("null") ? NULL : Boolean.valueOf(word);
                }
            }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            if (start == i) {
                throw bad();
            }
            return Double.parseDouble(s.substring(start, i));
        }
    }
}
