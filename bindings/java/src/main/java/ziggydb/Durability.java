package ziggydb;

/** When a commit returns (README "Durability"). */
public enum Durability {
    /** Once it is on stable storage (fsynced): the default. */
    IMMEDIATE,
    /**
     * Once every process sees it; it is fsynced at most {@link Options#batchDelay} later
     * ({@link ZiggyDb#sync()} forces it).
     */
    BATCHED
}
