package ziggydb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The three places the JNI library loads from, each in a JVM of its own. */
class LoadTest {
    @TempDir Path tmp;

    /** Runs Child "where" with `flags`; returns exit code, stdout and stderr. */
    private String[] where(String... flags) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String f : flags) {
            cmd.add(f);
        }
        cmd.add("-cp");
        cmd.add(Support.location(Child.class) + File.pathSeparator + Support.location(ZiggyDb.class));
        cmd.add(Child.class.getName());
        cmd.add("where");
        cmd.add(tmp.resolve("db").toString());
        Process p = new ProcessBuilder(cmd).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        p.getInputStream().transferTo(out);
        p.getErrorStream().transferTo(err);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        return new String[] {
            Integer.toString(p.exitValue()),
            out.toString(StandardCharsets.UTF_8).trim(),
            err.toString(StandardCharsets.UTF_8)
        };
    }

    /** The library this JVM's tests use: a file, for the children to find. */
    private static Path library() {
        String dir = System.getProperty(Native.PATH_PROPERTY);
        Path p = dir == null ? null : Path.of(dir);
        if (p != null && Files.isDirectory(p)) {
            p = p.resolve(System.mapLibraryName(Native.LIBRARY));
        }
        return p;
    }

    @Test
    void fromThePropertyTheLibraryPathOrTheJar() throws Exception {
        Path lib = library();
        assertNotNull(lib, "run through test.sh, which sets -D" + Native.PATH_PROPERTY);
        // The property, naming the file or its directory.
        String[] r = where("-D" + Native.PATH_PROPERTY + "=" + lib);
        assertEquals("0", r[0], r[2]);
        assertEquals("property property", r[1]);
        r = where("-D" + Native.PATH_PROPERTY + "=" + lib.getParent());
        assertEquals("property property", r[1], r[2]);
        // java.library.path.
        r = where("-Djava.library.path=" + lib.getParent());
        assertEquals("java.library.path java.library.path", r[1], r[2]);
        // Neither: the copy inside the jar.
        r = where();
        assertEquals("0", r[0], r[2]);
        assertEquals("jar jar", r[1]);
    }

    @Test
    void aPropertyThatDoesNotLoadIsAClearError() throws Exception {
        Path missing = tmp.resolve("no-such-dir");
        String[] r = where("-D" + Native.PATH_PROPERTY + "=" + missing);
        assertNotEquals("0", r[0]);
        assertTrue(r[2].contains("UnsatisfiedLinkError") && r[2].contains(missing.toString()), r[2]);
    }
}
