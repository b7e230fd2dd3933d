package ziggydb;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExecuteTest {
    @TempDir Path tmp;

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void repliesAsJavaValues() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            assertEquals("OK", db.execute("SET", "k", "v"));
            assertEquals("v", db.execute("GET", "k"));
            assertNull(db.execute("GET", "missing"));
            assertEquals(3L, db.execute("RPUSH", "l", "a", "b", "c"));
            assertEquals(List.of("a", "b", "c"), db.execute("LRANGE", "l", "0", "-1"));
            assertEquals(List.of(), db.execute("LRANGE", "nothing", "0", "-1"));
            assertEquals(5L, db.execute("INCRBY", "n", "5"));
            assertEquals("list", db.execute("TYPE", "l"));
            // A bulk reply is text from execute(String...), bytes from executeBinary.
            assertArrayEquals(b("v"), (byte[]) db.executeBinary("GET", "k"));
            List<?> mget = (List<?>) db.execute("MGET", "k", "missing", "n");
            assertEquals("v", mget.get(0));
            assertNull(mget.get(1));
            assertEquals("5", mget.get(2));
        }
    }

    @Test
    void mapsSetsAndNestedReplies() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            Object docs = db.execute("COMMAND", "DOCS", "GET");
            Map<?, ?> m = assertInstanceOf(Map.class, docs);
            assertEquals(Set.of("get"), m.keySet());
            assertInstanceOf(Map.class, m.get("get"));
            List<?> info = assertInstanceOf(List.class, db.execute("COMMAND", "INFO", "GET"));
            List<?> get = assertInstanceOf(List.class, info.get(0));
            assertEquals("get", get.get(0));
            assertEquals(2L, get.get(1));
            Set<?> flags = assertInstanceOf(Set.class, get.get(2));
            assertTrue(flags.contains("readonly"), flags.toString());
        }
    }

    @Test
    void binaryArgumentsAndReplies() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            byte[] key = {'k', 0, 1};
            byte[] val = {0, (byte) 0xff, 0};
            assertEquals("OK", db.execute(b("SET"), key, val));
            assertArrayEquals(val, (byte[]) db.execute(b("GET"), key));
            assertArrayEquals(val, db.get(key));
            assertEquals(2L, db.execute(b("RPUSH"), b("bl"), val, new byte[0]));
            List<?> items = (List<?>) db.execute(b("LRANGE"), b("bl"), b("0"), b("-1"));
            assertArrayEquals(val, (byte[]) items.get(0));
            assertArrayEquals(new byte[0], (byte[]) items.get(1));
            // Statuses stay text in the binary form.
            assertEquals("OK", db.execute(b("SET"), b("x"), b("y")));
        }
    }

    @Test
    void errorRepliesAreThrownWithTheirCodeAndText() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.execute("RPUSH", "l", "a");
            ZiggyException e = assertThrows(ZiggyException.WrongType.class, () -> db.execute("INCR", "l"));
            assertEquals(ErrorCode.WRONG_TYPE, e.code());
            assertEquals("WRONGTYPE Operation against a key holding the wrong kind of value", e.getMessage());
            db.execute("SET", "s", "abc");
            e = assertThrows(ZiggyException.NotAnInteger.class, () -> db.execute("INCR", "s"));
            assertEquals("ERR value is not an integer or out of range", e.getMessage());
            e = assertThrows(ZiggyException.NotAFloat.class, () -> db.execute("INCRBYFLOAT", "s", "1"));
            assertEquals(ErrorCode.NOT_A_FLOAT, e.code());
            db.execute("SET", "max", Long.toString(Long.MAX_VALUE));
            e = assertThrows(ZiggyException.Overflow.class, () -> db.execute("INCR", "max"));
            assertEquals(ErrorCode.OVERFLOW, e.code());
            e = assertThrows(ZiggyException.NoSuchKey.class, () -> db.execute("LSET", "nolist", "0", "x"));
            assertEquals("ERR no such key", e.getMessage());
            e = assertThrows(ZiggyException.IndexOutOfRange.class, () -> db.execute("LSET", "l", "5", "x"));
            assertEquals(ErrorCode.INDEX_OUT_OF_RANGE, e.code());
            e = assertThrows(ZiggyException.CommandError.class, () -> db.execute("NOSUCHCOMMAND", "x"));
            assertEquals(ErrorCode.COMMAND_ERROR, e.code());
            assertTrue(e.getMessage().startsWith("ERR unknown command"), e.getMessage());
            e = assertThrows(ZiggyException.CommandError.class, () -> db.execute("GET"));
            assertTrue(e.getMessage().startsWith("ERR wrong number of arguments"), e.getMessage());
            // State across calls needs a session: MULTI is an error reply here, not a crash.
            e = assertThrows(ZiggyException.CommandError.class, () -> db.execute("MULTI"));
            assertTrue(e.getMessage().contains("session"), e.getMessage());
            // Nothing of the failed commands was written.
            assertEquals(List.of("a"), db.execute("LRANGE", "l", "0", "-1"));
            assertEquals("abc", db.get("s"));
        }
    }

    @Test
    void badArgumentsAreJavaErrorsNotCrashes() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            ZiggyException e = assertThrows(ZiggyException.InvalidArgument.class, () -> db.execute(new String[0]));
            assertTrue(e.getMessage().contains("name"), e.getMessage());
            assertThrows(NullPointerException.class, () -> db.execute("GET", null));
            assertThrows(NullPointerException.class, () -> db.execute((byte[]) null));
            assertThrows(NullPointerException.class, () -> db.get((byte[]) null));
            assertThrows(NullPointerException.class, () -> db.set((String) null, "v"));
            assertThrows(NullPointerException.class, () -> db.set(new byte[1], null));
            // Many and large arguments go through the heap path of the JNI layer.
            String[] args = new String[2002];
            args[0] = "RPUSH";
            args[1] = "many";
            for (int i = 2; i < args.length; i++) {
                args[i] = "item-" + i;
            }
            assertEquals(2000L, db.execute(args));
            assertEquals("item-2001", db.execute("LINDEX", "many", "-1"));
        }
    }
}
