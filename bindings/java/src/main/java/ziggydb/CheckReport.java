package ziggydb;

import java.util.List;

/**
 * What {@link ZiggyDb#check()} found.
 *
 * @param records records scanned
 * @param keys keys reachable through the index
 * @param problems problems found: 0 when the database is sound
 * @param problemLines one line per problem (empty when there are none)
 */
public record CheckReport(long records, long keys, long problems, List<String> problemLines) {
    /** Whether the check found nothing wrong. */
    public boolean ok() {
        return problems == 0;
    }
}
