package ziggydb;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TypedValueTest {
    @TempDir Path tmp;

    @Test
    void typedSettersAndGettersRoundTrip() {
        Instant when = Instant.ofEpochMilli(1767225600123L);
        byte[] bytes = {'z', 'i', 'g', 0, 'g', 'y', (byte) 0xff};
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.set("int", -9007199254740993L);
            db.set("float", 0.1);
            db.set("bool", true);
            db.set("false", false);
            db.set("time", when);
            db.setJson("json", "{\"lang\":\"java\",\"list\":[1,2.5,null,true,\"x\"]}");
            db.set("bytes", bytes);
            db.set("string", "ziggy ✓ java");

            assertEquals(-9007199254740993L, db.getLong("int"));
            assertEquals(Double.doubleToRawLongBits(0.1), Double.doubleToRawLongBits(db.getDouble("float")));
            assertEquals(Boolean.TRUE, db.getBoolean("bool"));
            assertEquals(Boolean.FALSE, db.getBoolean("false"));
            assertEquals(when, db.getInstant("time"));
            assertEquals("{\"lang\":\"java\",\"list\":[1,2.5,null,true,\"x\"]}", db.getJson("json").replaceAll("\\s", ""));
            assertArrayEquals(bytes, db.getBytes("bytes"));
            assertEquals("ziggy ✓ java", db.getString("string"));

            assertEquals(ValueType.INT, db.type("int"));
            assertEquals(ValueType.FLOAT, db.type("float"));
            assertEquals(ValueType.BOOL, db.type("bool"));
            assertEquals(ValueType.TIMESTAMP, db.type("time"));
            assertEquals(ValueType.JSON, db.type("json"));
            assertEquals(ValueType.BYTES, db.type("bytes"));
            assertEquals(ValueType.STRING, db.type("string"));

            // getValue: the type and the natural Java object.
            assertEquals(Value.of(-9007199254740993L), db.getValue("int"));
            assertEquals(-9007199254740993L, db.getValue("int").toObject());
            assertEquals(0.1, db.getValue("float").toObject());
            assertEquals(true, db.getValue("bool").toObject());
            assertEquals(when, db.getValue("time").toObject());
            assertEquals(1767225600123L, db.getValue("time").asTimestampMillis());
            assertArrayEquals(bytes, (byte[]) db.getValue("bytes").toObject());
            assertEquals(Value.of(bytes), db.getValue("bytes"));
            assertEquals("ziggy ✓ java", db.getValue("string").toObject());
            assertNull(db.getValue("missing"));
            assertNull(db.getLong("missing"));
            assertNull(db.getDouble("missing"));
            assertNull(db.getBoolean("missing"));
            assertNull(db.getInstant("missing"));
            assertNull(db.getJson("missing"));
        }
    }

    @Test
    void setValueOfEveryTypeByBinaryKey() {
        Value[] values = {
            Value.of(new byte[] {0, 1, 0}),
            Value.of("text\u0000with nul"),
            Value.of(Long.MIN_VALUE),
            Value.of(Long.MAX_VALUE),
            Value.of(-0.0),
            Value.of(Double.NaN),
            Value.of(Double.NEGATIVE_INFINITY),
            Value.of(Double.MIN_VALUE),
            Value.of(false),
            Value.ofTimestampMillis(-1),
            Value.of(Instant.ofEpochMilli(0)),
            Value.ofJson("[1, {\"a\": null}]"),
            Value.ofJson("\"just a string\""),
        };
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            for (int i = 0; i < values.length; i++) {
                byte[] key = {'k', 0, (byte) i};
                db.setValue(key, values[i]);
            }
            for (int i = 0; i < values.length; i++) {
                byte[] key = {'k', 0, (byte) i};
                Value got = db.getValue(key);
                if (values[i].type() == ValueType.JSON) {
                    assertEquals(ValueType.JSON, got.type());
                    assertEquals(values[i].asJson().replaceAll("\\s", ""), got.asJson().replaceAll("\\s", ""));
                } else {
                    assertEquals(values[i], got, "value " + i);
                }
            }
        }
    }

    @Test
    void instantsKeepMillisecondsOnly() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.set("t", Instant.ofEpochSecond(1, 123_456_789));
            assertEquals(Instant.ofEpochMilli(1123), db.getInstant("t"));
            assertThrows(ZiggyException.InvalidArgument.class, () -> db.set("t", Instant.MAX));
        }
    }

    @Test
    void typedGettersRefuseOtherTypes() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            db.set("s", "hello");
            db.set("n", 5L);
            db.set("b", true);
            db.set("t", Instant.ofEpochMilli(5));
            ZiggyException e = assertThrows(ZiggyException.WrongType.class, () -> db.getBoolean("s"));
            assertEquals(ErrorCode.WRONG_TYPE, e.code());
            assertEquals("the value is a string, not a bool", e.getMessage());
            e = assertThrows(ZiggyException.WrongType.class, () -> db.getInstant("n"));
            assertEquals("the value is an int, not a timestamp", e.getMessage());
            assertThrows(ZiggyException.WrongType.class, () -> db.getJson("s"));
            assertThrows(ZiggyException.WrongType.class, () -> db.getString("n"));
            assertThrows(ZiggyException.WrongType.class, () -> db.getBytes("s"));
            assertThrows(ZiggyException.WrongType.class, () -> db.getValue("b").asLong());
            assertThrows(ZiggyException.NotAnInteger.class, () -> db.getLong("s"));
            assertThrows(ZiggyException.NotAnInteger.class, () -> db.getLong("b"));
            assertThrows(ZiggyException.NotAFloat.class, () -> db.getDouble("s"));
            // Numbers stored as text read as numbers, as Redis reads them.
            db.set("text", "123");
            assertEquals(123L, db.getLong("text"));
            assertEquals(123.0, db.getDouble("text"));
            db.set("ftext", "2.5");
            assertEquals(2.5, db.getDouble("ftext"));
            assertEquals(5.0, db.getDouble("n"));
            // A collection is not a value.
            db.execute("RPUSH", "list", "a");
            assertEquals(ValueType.LIST, db.type("list"));
            e = assertThrows(ZiggyException.WrongType.class, () -> db.getValue("list"));
            assertEquals(ErrorCode.WRONG_TYPE, e.code());
            assertThrows(ZiggyException.WrongType.class, () -> db.get("list"));
        }
    }

    @Test
    void invalidValuesAreRefusedWithTheirCode() {
        try (ZiggyDb db = ZiggyDb.open(tmp.resolve("db"))) {
            ZiggyException e = assertThrows(ZiggyException.InvalidJson.class, () -> db.setJson("j", "{not json"));
            assertEquals(ErrorCode.INVALID_JSON, e.code());
            assertFalse(e.getMessage().isEmpty());
            assertNull(db.get("j"));
            e = assertThrows(ZiggyException.InvalidArgument.class, () -> db.set("s", "bad \uD800 surrogate"));
            assertTrue(e.getMessage().contains("surrogate"), e.getMessage());
            assertThrows(ZiggyException.InvalidArgument.class, () -> db.get("key \uDC00"));
            assertNull(db.get("s"));
        }
    }

    @Test
    void valueEqualityIsByTypeAndContents() {
        assertEquals(Value.of(1L), Value.of(1L));
        assertFalse(Value.of(1L).equals(Value.ofTimestampMillis(1)));
        assertFalse(Value.of("a").equals(Value.ofJson("a")));
        assertEquals(Value.of(Double.NaN), Value.of(Double.NaN));
        assertFalse(Value.of(0.0).equals(Value.of(-0.0)));
        byte[] b = {1, 2};
        Value v = Value.of(b);
        b[0] = 9;
        assertArrayEquals(new byte[] {1, 2}, v.asBytes(), "Value.of copies its bytes");
    }
}
