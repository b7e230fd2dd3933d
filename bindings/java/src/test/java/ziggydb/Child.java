package ziggydb;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The child JVMs of the multi-process tests: {@code java ziggydb.Child ROLE DIR [N]}.
 *
 * <ul>
 *   <li>{@code incr DIR N}: N times incr("counter"), and N/10 transactions that each add 1 to
 *       "tx:a" and "tx:b" (so that the two stay equal); prints "done".
 *   <li>{@code where DIR}: opens DIR and prints where the JNI library was loaded from.
 *   <li>{@code hold DIR}: begins a transaction, prints "held", and keeps it (and the writer
 *       lock) until its standard input closes; then commits and exits.
 *   <li>{@code exec DIR ARG...}: runs one command (PUBLISH, RPUSH, ...) and prints its reply.
 * </ul>
 */
public final class Child {
    private Child() {}

    public static void main(String[] args) throws IOException {
        String role = args[0];
        if (role.equals("where")) {
            // Opens a database (which loads the library) and says where it came from.
            try (ZiggyDb db = ZiggyDb.open(Path.of(args[1]))) {
                db.set("loaded", Native.loadedFrom);
                System.out.println(Native.loadedFrom + " " + db.get("loaded"));
            }
            return;
        }
        Path dir = Path.of(args[1]);
        // A generous lock timeout: the children of a test wait for one another on a loaded
        // machine, and must answer rather than fail with Busy.
        Options opts = new Options().lockTimeout(Duration.ofMinutes(2));
        try (ZiggyDb db = ZiggyDb.open(dir, opts)) {
            switch (role) {
                case "incr": {
                    int n = Integer.parseInt(args[2]);
                    for (int i = 0; i < n; i++) {
                        db.incr("counter");
                        if (i % 10 == 0) {
                            db.transaction(tx -> {
                                long a = tx.incr("tx:a");
                                long b = tx.incr("tx:b");
                                if (a != b) {
                                    throw new IllegalStateException("tx:a " + a + " != tx:b " + b);
                                }
                            });
                        }
                    }
                    System.out.println("done");
                    break;
                }
                case "hold":
                    db.transaction(tx -> {
                        tx.set("held", "yes");
                        System.out.println("held");
                        System.out.flush();
                        while (System.in.read() >= 0) {
                            // until the parent closes our stdin
                        }
                    });
                    break;
                case "exec":
                    System.out.println(db.execute(java.util.Arrays.copyOfRange(args, 2, args.length)));
                    break;
                default:
                    throw new IllegalArgumentException("unknown role " + role);
            }
        }
    }
}
