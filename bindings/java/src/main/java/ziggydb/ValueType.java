package ziggydb;

/** The type a value is stored as ({@code ZIGGY_TYPE_*} in C, BINDINGS.md "Values"). */
public enum ValueType {
    /** Arbitrary bytes: {@code byte[]}. */
    BYTES(1),
    /** UTF-8 text: {@code String}. */
    STRING(2),
    /** A signed 64-bit integer: {@code long}. */
    INT(3),
    /** A double: {@code double}. */
    FLOAT(4),
    /** A boolean: {@code boolean}. */
    BOOL(5),
    /** Milliseconds since the Unix epoch, UTC: {@code java.time.Instant}. */
    TIMESTAMP(6),
    /** A JSON document, validated when written: its text as a {@code String}. */
    JSON(7),
    /** A list ({@code LPUSH}, ...; through {@code execute}). */
    LIST(16),
    /** A set ({@code SADD}, ...; through {@code execute}). */
    SET(17),
    /** A sorted set ({@code ZADD}, ...; through {@code execute}). */
    ZSET(18),
    /** A hash ({@code HSET}, ...; through {@code execute}). */
    HASH(19);

    private final int code;

    ValueType(int code) {
        this.code = code;
    }

    /** The C ABI's number of the type. */
    public int code() {
        return code;
    }

    /** The type with the C ABI's number {@code code}; null for none (a missing key). */
    static ValueType of(int code) {
        for (ValueType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        if (code == 0) {
            return null;
        }
        throw new ZiggyException.Internal("the library reported value type " + code
                + ", which this binding does not know");
    }
}
