package ziggydb;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Objects;

/**
 * The calls a database ({@link ZiggyDb}, each call its own transaction) and a transaction
 * ({@link Transaction}, seeing its own writes) both answer. Keys and values are {@code byte[]}
 * (binary-safe, NUL bytes included) or {@code String} (UTF-8).
 *
 * <p>Missing keys read as {@code null}. A key holding another type than a typed getter reads
 * is {@link ZiggyException.WrongType} (or {@link ZiggyException.NotAnInteger} / {@link
 * ZiggyException.NotAFloat} for {@link #getLong} / {@link #getDouble}, which also read numbers
 * stored as text, as Redis does).
 */
public abstract sealed class ZiggyCommands permits ZiggyDb, Transaction {
    ZiggyCommands() {}

    // The primitives each side implements: the database under its close lock, the
    // transaction on its own handle.
    abstract byte[] rawGet(byte[] key);

    abstract void rawSet(byte[] key, byte[] value);

    abstract boolean rawDelete(byte[] key);

    abstract long rawIncr(byte[] key, long delta);

    abstract Value rawGetValue(byte[] key);

    abstract void rawSetValue(byte[] key, Value value);

    abstract Object rawExecute(byte[][] args, boolean bulkAsString);

    Long rawGetLong(byte[] key) {
        Value v = rawGetValue(key);
        if (v == null) {
            return null;
        }
        switch (v.type()) {
            case INT:
                return v.asLong();
            case STRING:
            case BYTES:
                return parseRedisLong(v.nativeData());
            default:
                throw new ZiggyException.NotAnInteger("the value is not an integer");
        }
    }

    Double rawGetDouble(byte[] key) {
        Value v = rawGetValue(key);
        if (v == null) {
            return null;
        }
        switch (v.type()) {
            case FLOAT:
                return v.asDouble();
            case INT:
                return (double) v.asLong();
            case STRING:
            case BYTES:
                return parseDouble(v.nativeData());
            default:
                throw new ZiggyException.NotAFloat("the value is not a valid float");
        }
    }

    static byte[] key(String key) {
        return Value.utf8(Objects.requireNonNull(key, "key"));
    }

    static byte[] nonNull(byte[] b, String what) {
        return Objects.requireNonNull(b, what);
    }

    // ------------------------------------------------------------------------------------
    // Bytes and strings.

    /** The value at {@code key} as bytes (Redis {@code GET}: an int as its decimal text); null if missing. */
    public final byte[] get(byte[] key) {
        return rawGet(nonNull(key, "key"));
    }

    /** The value at {@code key} as UTF-8 text (Redis {@code GET}); null if missing. */
    public final String get(String key) {
        byte[] v = rawGet(key(key));
        return v == null ? null : new String(v, StandardCharsets.UTF_8);
    }

    /** Writes {@code key} = {@code value} as bytes (Redis {@code SET}). */
    public final void set(byte[] key, byte[] value) {
        rawSet(nonNull(key, "key"), nonNull(value, "value"));
    }

    /** Writes {@code key} = {@code value} as bytes. */
    public final void set(String key, byte[] value) {
        rawSet(key(key), nonNull(value, "value"));
    }

    /** Writes {@code key} = {@code value} as a string (type STRING). */
    public final void set(String key, String value) {
        rawSetValue(key(key), Value.of(Objects.requireNonNull(value, "value")));
    }

    /** Writes {@code key} = {@code value} as an int. */
    public final void set(String key, long value) {
        rawSetValue(key(key), Value.of(value));
    }

    /** Writes {@code key} = {@code value} as a float. */
    public final void set(String key, double value) {
        rawSetValue(key(key), Value.of(value));
    }

    /** Writes {@code key} = {@code value} as a bool. */
    public final void set(String key, boolean value) {
        rawSetValue(key(key), Value.of(value));
    }

    /** Writes {@code key} = {@code value} as a timestamp (ms since the epoch). */
    public final void set(String key, Instant value) {
        rawSetValue(key(key), Value.of(Objects.requireNonNull(value, "value")));
    }

    /** Writes {@code key} = the JSON document {@code json} (its text; checked to parse). */
    public final void setJson(String key, String json) {
        rawSetValue(key(key), Value.ofJson(json));
    }

    /** Writes {@code key} = {@code value}, of the value's type. */
    public final void setValue(byte[] key, Value value) {
        rawSetValue(nonNull(key, "key"), Objects.requireNonNull(value, "value"));
    }

    /** Writes {@code key} = {@code value}, of the value's type. */
    public final void setValue(String key, Value value) {
        rawSetValue(key(key), Objects.requireNonNull(value, "value"));
    }

    /** Deletes {@code key} (Redis {@code DEL}): true if it existed. */
    public final boolean delete(byte[] key) {
        return rawDelete(nonNull(key, "key"));
    }

    /** Deletes {@code key}: true if it existed. */
    public final boolean delete(String key) {
        return rawDelete(key(key));
    }

    /** Adds 1 to the int at {@code key} (a missing key counts as 0) and returns the new value. */
    public final long incr(byte[] key) {
        return rawIncr(nonNull(key, "key"), 1);
    }

    /** Adds 1 to the int at {@code key} (a missing key counts as 0) and returns the new value. */
    public final long incr(String key) {
        return rawIncr(key(key), 1);
    }

    /**
     * Adds {@code delta} to the int at {@code key} (Redis {@code INCRBY}), atomically across
     * every process: {@link ZiggyException.NotAnInteger} if the value is not an integer,
     * {@link ZiggyException.Overflow} past 64 bits.
     */
    public final long incr(byte[] key, long delta) {
        return rawIncr(nonNull(key, "key"), delta);
    }

    /** {@link #incr(byte[], long)} of a string key. */
    public final long incr(String key, long delta) {
        return rawIncr(key(key), delta);
    }

    // ------------------------------------------------------------------------------------
    // Typed values.

    /** The value at {@code key} with its type; null if missing. A collection is WrongType. */
    public final Value getValue(byte[] key) {
        return rawGetValue(nonNull(key, "key"));
    }

    /** The value at {@code key} with its type; null if missing. */
    public final Value getValue(String key) {
        return rawGetValue(key(key));
    }

    /** An int, or text that is an integer as Redis reads one; null if missing. */
    public final Long getLong(String key) {
        return rawGetLong(key(key));
    }

    /** As {@link #getLong(String)}. */
    public final Long getLong(byte[] key) {
        return rawGetLong(nonNull(key, "key"));
    }

    /** A float or an int, or text that is a number; null if missing. */
    public final Double getDouble(String key) {
        return rawGetDouble(key(key));
    }

    /** As {@link #getDouble(String)}. */
    public final Double getDouble(byte[] key) {
        return rawGetDouble(nonNull(key, "key"));
    }

    /** A bool; null if missing. */
    public final Boolean getBoolean(String key) {
        Value v = rawGetValue(key(key));
        return v == null ? null : v.asBoolean();
    }

    /** A timestamp; null if missing. */
    public final Instant getInstant(String key) {
        Value v = rawGetValue(key(key));
        return v == null ? null : v.asInstant();
    }

    /** A JSON document's text; null if missing. */
    public final String getJson(String key) {
        Value v = rawGetValue(key(key));
        return v == null ? null : v.asJson();
    }

    /** A string (type STRING only, unlike {@link #get(String)}); null if missing. */
    public final String getString(String key) {
        Value v = rawGetValue(key(key));
        return v == null ? null : v.asString();
    }

    /** Bytes (type BYTES only, unlike {@link #get(byte[])}); null if missing. */
    public final byte[] getBytes(String key) {
        Value v = rawGetValue(key(key));
        return v == null ? null : v.asBytes();
    }

    // ------------------------------------------------------------------------------------
    // Any command.

    /**
     * Runs one command ({@code args[0]} its name, as {@code ziggy} and Redis take it) and
     * returns its reply: an integer as {@code Long}, a bulk string as {@code String} (UTF-8;
     * {@link #executeBinary} gives {@code byte[]}), a status as {@code String}, a nil as
     * {@code null}, an array as {@code List<Object>}, a map as {@code Map<Object, Object>} (in
     * reply order), a set as {@code Set<Object>}, a double as {@code Double}, a boolean as
     * {@code Boolean}. An error reply is thrown as {@link ZiggyException} with the reply's text
     * (an error inside an array, as {@code EXEC} gives, is a {@code ZiggyException} element).
     */
    public final Object execute(String... args) {
        return rawExecute(toBytes(args), true);
    }

    /** {@link #execute(String...)} with bulk strings as {@code byte[]}. */
    public final Object executeBinary(String... args) {
        return rawExecute(toBytes(args), false);
    }

    /**
     * {@link #execute(String...)} with binary arguments; bulk strings come back as {@code
     * byte[]} (map keys too).
     */
    public final Object execute(byte[]... args) {
        Objects.requireNonNull(args, "args");
        for (byte[] a : args) {
            Objects.requireNonNull(a, "a command argument is null");
        }
        return rawExecute(args.clone(), false);
    }

    static byte[][] toBytes(String[] args) {
        Objects.requireNonNull(args, "args");
        byte[][] out = new byte[args.length][];
        for (int i = 0; i < args.length; i++) {
            out[i] = Value.utf8(Objects.requireNonNull(args[i], "a command argument is null"));
        }
        return out;
    }

    // ------------------------------------------------------------------------------------
    // Text as numbers, as the library reads it (for a transaction, which has no
    // ziggy_txn_get_int).

    static long parseRedisLong(byte[] b) {
        String s = new String(b, StandardCharsets.UTF_8);
        boolean ok = !s.isEmpty() && s.length() <= 20 && s.matches("-?(0|[1-9][0-9]*)")
                && !s.equals("-0");
        if (ok) {
            try {
                return Long.parseLong(s);
            } catch (NumberFormatException e) {
                // out of range: below
            }
        }
        throw new ZiggyException.NotAnInteger("ERR value is not an integer or out of range");
    }

    static double parseDouble(byte[] b) {
        String s = new String(b, StandardCharsets.UTF_8);
        if (!s.isEmpty() && s.strip().equals(s) && !s.matches(".*[xXpPdDfF].*")) {
            try {
                double d = Double.parseDouble(s);
                if (!Double.isNaN(d)) {
                    return d;
                }
            } catch (NumberFormatException e) {
                // below
            }
        }
        throw new ZiggyException.NotAFloat("ERR value is not a valid float");
    }
}
