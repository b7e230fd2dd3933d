package ziggydb;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Helpers of the tests: child JVMs on this binding's classes. */
final class Support {
    private Support() {}

    /** Where a class was loaded from (a jar or a classes directory). */
    static String location(Class<?> c) {
        try {
            return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A command line running {@code mainClass} with {@code args} in a new JVM. */
    static List<String> javaCommand(Class<?> mainClass, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        // The children run small: many start at once on a loaded 2-core machine.
        cmd.add("-Xmx64m");
        cmd.add("-XX:TieredStopAtLevel=1");
        cmd.add("-XX:+UseSerialGC");
        String lib = System.getProperty(Native.PATH_PROPERTY);
        if (lib != null) {
            cmd.add("-D" + Native.PATH_PROPERTY + "=" + lib);
        }
        cmd.add("-cp");
        cmd.add(location(mainClass) + File.pathSeparator + location(ZiggyDb.class));
        cmd.add(mainClass.getName());
        for (String a : args) {
            cmd.add(a);
        }
        return cmd;
    }

    static Process start(Class<?> mainClass, String... args) throws IOException {
        return new ProcessBuilder(javaCommand(mainClass, args))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
    }
}
