package ziggydb;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Objects;

/**
 * A typed value as ZiggyDB stores it: bytes, a string, an int, a float, a bool, a timestamp or
 * JSON (BINDINGS.md "Values"). Immutable. Made with the {@code of} factories, read back with
 * {@link ZiggyDb#getValue}; each {@code as} accessor returns the value as its Java type and
 * throws {@link ZiggyException.WrongType} when the value is of another type.
 *
 * <pre>{@code
 * db.setValue("when", Value.of(Instant.now()));
 * Value v = db.getValue("when");       // v.type() == ValueType.TIMESTAMP
 * Instant t = v.asInstant();
 * }</pre>
 */
public final class Value {
    private final ValueType type;
    private final long integer;
    private final double real;
    private final byte[] data;

    private Value(ValueType type, long integer, double real, byte[] data) {
        this.type = type;
        this.integer = integer;
        this.real = real;
        this.data = data;
    }

    /** Bytes (copied). */
    public static Value of(byte[] bytes) {
        return new Value(ValueType.BYTES, 0, 0, Objects.requireNonNull(bytes, "bytes").clone());
    }

    /** A string, stored as UTF-8. Unpaired surrogates are not text: {@code InvalidArgument}. */
    public static Value of(String text) {
        return new Value(ValueType.STRING, 0, 0, utf8(Objects.requireNonNull(text, "text")));
    }

    /** A 64-bit integer. */
    public static Value of(long n) {
        return new Value(ValueType.INT, n, 0, null);
    }

    /** A double (any, including NaN and the infinities). */
    public static Value of(double x) {
        return new Value(ValueType.FLOAT, 0, x, null);
    }

    /** A boolean. */
    public static Value of(boolean b) {
        return new Value(ValueType.BOOL, b ? 1 : 0, 0, null);
    }

    /**
     * A timestamp: the milliseconds since the epoch of {@code t} (finer parts are dropped, as
     * {@link Instant#toEpochMilli} does). {@code InvalidArgument} beyond what a long of ms holds.
     */
    public static Value of(Instant t) {
        Objects.requireNonNull(t, "instant");
        try {
            return new Value(ValueType.TIMESTAMP, t.toEpochMilli(), 0, null);
        } catch (ArithmeticException e) {
            throw new ZiggyException.InvalidArgument(
                    "the instant " + t + " is out of range of a timestamp in ms");
        }
    }

    /** A timestamp of {@code millis} since the epoch. */
    public static Value ofTimestampMillis(long millis) {
        return new Value(ValueType.TIMESTAMP, millis, 0, null);
    }

    /** A JSON document given as its text; the library checks it parses when it is written. */
    public static Value ofJson(String json) {
        return new Value(ValueType.JSON, 0, 0, utf8(Objects.requireNonNull(json, "json")));
    }

    /** Called by the JNI layer with a {@code ziggy_value}'s fields. */
    static Value fromNative(int vtype, long integer, double real, byte[] data) {
        ValueType t = ValueType.of(vtype);
        if (t == null || t.code() > ValueType.JSON.code()) {
            throw new ZiggyException.Internal("the library returned a value of type " + vtype);
        }
        boolean hasData = t == ValueType.BYTES || t == ValueType.STRING || t == ValueType.JSON;
        return new Value(t, integer, real, hasData ? (data == null ? new byte[0] : data) : null);
    }

    static byte[] utf8(String s) {
        // String.getBytes replaces an unpaired surrogate with '?': text that is not text is
        // refused rather than changed. Surrogates are rare, so look for them first and take
        // the slow, checking encoder only when there are some.
        for (int i = 0; i < s.length(); i++) {
            if (Character.isSurrogate(s.charAt(i))) {
                return utf8Checked(s);
            }
        }
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] utf8Checked(String s) {
        var enc = StandardCharsets.UTF_8.newEncoder();
        try {
            var buf = enc.encode(java.nio.CharBuffer.wrap(s));
            byte[] out = new byte[buf.remaining()];
            buf.get(out);
            return out;
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new ZiggyException.InvalidArgument(
                    "the string is not valid Unicode (an unpaired surrogate)");
        }
    }

    /** The type the value is stored as. */
    public ValueType type() {
        return type;
    }

    private ZiggyException wrong(ValueType wanted) {
        return new ZiggyException.WrongType(
                "the value is " + article(type) + ", not " + article(wanted));
    }

    private static String article(ValueType t) {
        switch (t) {
            case INT:
                return "an int";
            default:
                return "a " + t.name().toLowerCase();
        }
    }

    /** The bytes of a BYTES value (a copy). */
    public byte[] asBytes() {
        if (type != ValueType.BYTES) {
            throw wrong(ValueType.BYTES);
        }
        return data.clone();
    }

    /** The text of a STRING value. */
    public String asString() {
        if (type != ValueType.STRING) {
            throw wrong(ValueType.STRING);
        }
        return new String(data, StandardCharsets.UTF_8);
    }

    /** The number of an INT value. */
    public long asLong() {
        if (type != ValueType.INT) {
            throw wrong(ValueType.INT);
        }
        return integer;
    }

    /** The number of a FLOAT value. */
    public double asDouble() {
        if (type != ValueType.FLOAT) {
            throw wrong(ValueType.FLOAT);
        }
        return real;
    }

    /** A BOOL value. */
    public boolean asBoolean() {
        if (type != ValueType.BOOL) {
            throw wrong(ValueType.BOOL);
        }
        return integer != 0;
    }

    /** A TIMESTAMP value as an Instant. */
    public Instant asInstant() {
        if (type != ValueType.TIMESTAMP) {
            throw wrong(ValueType.TIMESTAMP);
        }
        return Instant.ofEpochMilli(integer);
    }

    /** A TIMESTAMP value in ms since the epoch. */
    public long asTimestampMillis() {
        if (type != ValueType.TIMESTAMP) {
            throw wrong(ValueType.TIMESTAMP);
        }
        return integer;
    }

    /** The text of a JSON value. */
    public String asJson() {
        if (type != ValueType.JSON) {
            throw wrong(ValueType.JSON);
        }
        return new String(data, StandardCharsets.UTF_8);
    }

    /**
     * The value as its natural Java object: {@code byte[]} (BYTES), {@code String} (STRING and
     * JSON), {@code Long}, {@code Double}, {@code Boolean}, {@code Instant}.
     */
    public Object toObject() {
        switch (type) {
            case BYTES:
                return data.clone();
            case STRING:
            case JSON:
                return new String(data, StandardCharsets.UTF_8);
            case INT:
                return integer;
            case FLOAT:
                return real;
            case BOOL:
                return integer != 0;
            case TIMESTAMP:
                return Instant.ofEpochMilli(integer);
            default:
                throw new IllegalStateException("a value of type " + type);
        }
    }

    // The fields as the JNI layer passes them.
    int nativeType() {
        return type.code();
    }

    long nativeInteger() {
        return integer;
    }

    double nativeReal() {
        return real;
    }

    byte[] nativeData() {
        return data;
    }

    /** Equal type and equal contents (floats compared bit for bit, so NaN equals itself). */
    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Value)) {
            return false;
        }
        Value v = (Value) o;
        return type == v.type
                && integer == v.integer
                && Double.doubleToLongBits(real) == Double.doubleToLongBits(v.real)
                && Arrays.equals(data, v.data);
    }

    @Override
    public int hashCode() {
        return Objects.hash(type, integer, Double.doubleToLongBits(real), Arrays.hashCode(data));
    }

    @Override
    public String toString() {
        Object o = toObject();
        if (o instanceof byte[]) {
            return "BYTES" + Arrays.toString((byte[]) o);
        }
        return type + "(" + o + ")";
    }
}
