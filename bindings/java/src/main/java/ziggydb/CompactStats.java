package ziggydb;

/**
 * What {@link ZiggyDb#compact()} did.
 *
 * @param segmentsRemoved segment files removed
 * @param segmentsWritten segment files written
 * @param recordsCopied records copied
 * @param bytesBefore segment bytes on disk before
 * @param bytesAfter segment bytes on disk after
 */
public record CompactStats(
        long segmentsRemoved, long segmentsWritten, long recordsCopied, long bytesBefore, long bytesAfter) {}
