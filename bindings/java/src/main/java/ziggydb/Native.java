package ziggydb;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The JNI layer (src/main/c/ziggydb_jni.c) and where its library comes from. Handles are
 * plain longs here; {@link ZiggyDb} and {@link Transaction} make sure that a handle is live for
 * the whole of every call and never used after it is closed.
 *
 * <p>The library {@code libziggydb_jni.so} is loaded, in this order, from:
 *
 * <ol>
 *   <li>the system property {@code ziggydb.library.path}: the library file itself or the
 *       directory holding it ({@code -Dziggydb.library.path=/opt/ziggydb/lib});
 *   <li>{@code System.loadLibrary("ziggydb_jni")}, that is {@code java.library.path};
 *   <li>the copy inside the jar ({@code ziggydb/native/linux-x86_64/libziggydb_jni.so}),
 *       written to a temporary file and loaded from there.
 * </ol>
 */
final class Native {
    private Native() {}

    /** The property naming the JNI library or its directory. */
    static final String PATH_PROPERTY = "ziggydb.library.path";

    static final String LIBRARY = "ziggydb_jni";

    /** Where the library was loaded from: "property", "java.library.path" or "jar". */
    static String loadedFrom;

    static {
        load();
    }

    private static void load() {
        String explicit = System.getProperty(PATH_PROPERTY);
        if (explicit != null && !explicit.isEmpty()) {
            Path p = Path.of(explicit).toAbsolutePath();
            if (Files.isDirectory(p)) {
                p = p.resolve(System.mapLibraryName(LIBRARY));
            }
            // An explicit path that does not load is an error, not a reason to look elsewhere.
            System.load(p.toString());
            loadedFrom = "property";
            return;
        }
        UnsatisfiedLinkError notOnPath;
        try {
            System.loadLibrary(LIBRARY);
            loadedFrom = "java.library.path";
            return;
        } catch (UnsatisfiedLinkError e) {
            notOnPath = e;
        }
        String resource = "native/" + platform() + "/" + System.mapLibraryName(LIBRARY);
        try (InputStream in = Native.class.getResourceAsStream(resource)) {
            if (in == null) {
                UnsatisfiedLinkError e = new UnsatisfiedLinkError(
                        "libziggydb_jni not found: set -D" + PATH_PROPERTY
                                + "=<the library or its directory>, put it on java.library.path,"
                                + " or use a ziggydb.jar built with it (no ziggydb/" + resource
                                + " inside this one)");
                e.addSuppressed(notOnPath);
                throw e;
            }
            Path tmp = Files.createTempFile("libziggydb_jni", ".so");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                System.load(tmp.toString());
                loadedFrom = "jar";
            } finally {
                // Loaded (mapped) already: the name is not needed any more.
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            UnsatisfiedLinkError err =
                    new UnsatisfiedLinkError("could not extract libziggydb_jni from the jar: " + e);
            err.initCause(e);
            throw err;
        }
    }

    private static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase().replace(' ', '-');
        String arch = System.getProperty("os.arch", "");
        if (arch.equals("amd64")) {
            arch = "x86_64";
        }
        return os + "-" + arch;
    }

    /** UTF-8 bytes as a String (the JNI layer makes every String through this). */
    static String text(byte[] utf8) {
        return new String(utf8, StandardCharsets.UTF_8);
    }

    static native long open(
            byte[] path,
            int durability,
            int batchDelayMs,
            long lockTimeoutMs,
            long segmentSize,
            boolean autoCompact,
            long activeExpiryMs,
            boolean readOnly,
            int mode);

    static native void close(long db);

    /** Database handles open in this process through this binding (for the tests). */
    static native long liveDatabases();

    /** Transactions not yet ended (for the tests). */
    static native long liveTransactions();

    static native byte[] version();

    static native byte[] errname(int code);

    static native byte[] get(long db, byte[] key);

    static native boolean exists(long db, byte[] key);

    static native int type(long db, byte[] key);

    static native void set(long db, byte[] key, byte[] value);

    static native boolean del(long db, byte[] key);

    static native long incrby(long db, byte[] key, long delta);

    static native Value getValue(long db, byte[] key);

    static native void setValue(long db, byte[] key, int vtype, long integer, double real, byte[] data);

    static native Long getLong(long db, byte[] key);

    static native Double getDouble(long db, byte[] key);

    static native Object exec(long db, byte[][] args, boolean bulkAsString);

    static native void sync(long db);

    static native void metrics(long db, long[] out);

    static native void compact(long db, long[] out);

    static native void backup(long db, byte[] dest, long[] out);

    static native byte[] check(long db, long[] out);

    static native long txnBegin(long db);

    static native void txnCommit(long txn);

    static native void txnRollback(long txn);

    static native byte[] txnGet(long txn, byte[] key);

    static native void txnSet(long txn, byte[] key, byte[] value);

    static native boolean txnDel(long txn, byte[] key);

    static native long txnIncrby(long txn, byte[] key, long delta);

    static native Value txnGetValue(long txn, byte[] key);

    static native void txnSetValue(long txn, byte[] key, int vtype, long integer, double real, byte[] data);

    static native Object txnExec(long txn, byte[][] args, boolean bulkAsString);

    /** Sessions not yet closed (for the tests). */
    static native long liveSessions();

    static native long sessionOpen(long db);

    static native void sessionClose(long session);

    static native Object sessionExec(long session, byte[][] args, boolean bulkAsString);

    /** The next Pub/Sub message (a List), or null if none came within timeoutMs (< 0: forever). */
    static native Object sessionNextMessage(long session, long timeoutMs, boolean bulkAsString);

    static native long interrupterOpen(long session);

    /** Any thread; 0 is ignored. */
    static native void interrupt(long interrupter);

    static native void interrupterFree(long interrupter);
}
