package ziggydb;

/**
 * Counters kept in shared memory, summed over every process on the database ({@link
 * ZiggyDb#metrics()}; the Rust {@code Metrics}, C {@code ziggy_metrics}).
 *
 * @param keys live keys (including expired keys not yet deleted)
 * @param liveBytes bytes of records the index points to
 * @param deadBytes bytes of overwritten or deleted records not yet reclaimed by compaction
 * @param segments segment files
 * @param segmentFileBytes bytes on disk of the segment files
 * @param commits transactions committed
 * @param rollbacks transactions rolled back
 * @param reads point reads
 * @param hits reads that found a key
 * @param misses reads that found nothing
 * @param compactions compactions completed
 * @param expired keys deleted because they expired
 * @param processes processes attached now
 * @param commands commands run through {@code execute} (and other front ends)
 */
public record Metrics(
        long keys,
        long liveBytes,
        long deadBytes,
        long segments,
        long segmentFileBytes,
        long commits,
        long rollbacks,
        long reads,
        long hits,
        long misses,
        long compactions,
        long expired,
        long processes,
        long commands) {
    static Metrics of(long[] v) {
        return new Metrics(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10],
                v[11], v[12], v[13]);
    }
}
