package ziggydb;

/**
 * What {@link ZiggyDb#backup(java.nio.file.Path)} copied.
 *
 * @param segments segment files copied
 * @param bytes bytes copied
 * @param keys keys in the copy
 */
public record BackupStats(long segments, long bytes, long keys) {}
