package ziggydb;

/**
 * The library's stable error codes (README "Errors"; {@code ziggy_errname} in C), each with
 * its number and name, plus three of this binding: {@link #COMMAND_ERROR}, {@link #CLOSED}
 * and {@link #UNKNOWN} (negative numbers, which the library never uses). Every {@link
 * ZiggyException} carries one; each code has its own subclass of it.
 */
public enum ErrorCode {
    /**
     * A bug in the library: a Rust panic inside the call, caught at the boundary. The handles
     * stay usable; {@code ziggy_errmsg} has the panic's message.
     */
    INTERNAL(2, "EINTERNAL"),
    /** An I/O call failed. */
    IO(10, "IO"),
    /** The operating system refused access. */
    PERMISSION_DENIED(11, "PERMISSION_DENIED"),
    /** The file system is full. */
    DISK_FULL(12, "DISK_FULL"),
    /** A compaction has no room for its smallest step. */
    COMPACT_NEEDS_SPACE(13, "COMPACT_NEEDS_SPACE"),
    /** The file system is mounted read-only. */
    READ_ONLY_FILE_SYSTEM(14, "READ_ONLY_FILE_SYSTEM"),
    /** Memory could not be allocated. */
    OUT_OF_MEMORY(15, "OUT_OF_MEMORY"),
    /** A log record before the end of the log is damaged. */
    CORRUPT_WAL(20, "CORRUPT_WAL"),
    /** A record fails its checksum. */
    CHECKSUM_MISMATCH(21, "CHECKSUM_MISMATCH"),
    /** A segment file is malformed. */
    CORRUPT_SEGMENT(22, "CORRUPT_SEGMENT"),
    /** The hash index is malformed. */
    CORRUPT_INDEX(23, "CORRUPT_INDEX"),
    /** {@code MANIFEST} is malformed. */
    CORRUPT_MANIFEST(24, "CORRUPT_MANIFEST"),
    /** The shared state {@code ziggy.shm} is malformed. */
    CORRUPT_SHM(25, "CORRUPT_SHM"),
    /** A collection's metadata or pages are damaged. */
    CORRUPT_COLLECTION(26, "CORRUPT_COLLECTION"),
    /** A stored value does not decode as its type. */
    CORRUPT_VALUE(27, "CORRUPT_VALUE"),
    /** Segment files without a {@code MANIFEST}. */
    MANIFEST_MISSING(28, "MANIFEST_MISSING"),
    /** A read-only open found a database that needs recovery. */
    NEEDS_RECOVERY(29, "NEEDS_RECOVERY"),
    /** The directory holds other files. */
    NOT_A_DATABASE(40, "NOT_A_DATABASE"),
    /** The path is not a directory. */
    NOT_A_DIRECTORY(41, "NOT_A_DIRECTORY"),
    /** A file of another format version. */
    INCOMPATIBLE_VERSION(42, "INCOMPATIBLE_VERSION"),
    /** A symbolic link in the database directory. */
    SYMLINK(43, "SYMLINK"),
    /** A name in the database directory is not a regular file of its own. */
    NOT_REGULAR_FILE(44, "NOT_REGULAR_FILE"),
    /** The database has another file mode than the one asked for. */
    MODE_MISMATCH(45, "MODE_MISMATCH"),
    /** The directory is open in this process with other options. */
    OPTIONS_MISMATCH(46, "OPTIONS_MISMATCH"),
    /** A read-only open found read-write processes. */
    OPEN_READ_WRITE(47, "OPEN_READ_WRITE"),
    /** A repair found the database open. */
    IN_USE(48, "IN_USE"),
    /** A lock was not granted within the timeout. */
    BUSY(60, "BUSY"),
    /** An earlier write failed; the handle refuses writes. */
    POISONED(61, "POISONED"),
    /** A write on a read-only handle. */
    READ_ONLY(62, "READ_ONLY"),
    /** A handle used in a forked child of the process that opened it. */
    FORKED(63, "FORKED"),
    /** A second write transaction inside a transaction's closure. */
    TXN_ACTIVE(64, "TXN_ACTIVE"),
    /** A subscriber fell so far behind that messages it had not read were overwritten. */
    SUBSCRIBER_OVERRUN(65, "SUBSCRIBER_OVERRUN"),
    /** A read view held past what the shared undo ring keeps needed a version it lost. */
    SNAPSHOT_TOO_OLD(66, "SNAPSHOT_TOO_OLD"),
    /** An argument is invalid. */
    INVALID_ARGUMENT(80, "INVALID_ARGUMENT"),
    /** A key is longer than the format allows. */
    KEY_TOO_LARGE(81, "KEY_TOO_LARGE"),
    /** A value or transaction does not fit in a segment. */
    VALUE_TOO_LARGE(82, "VALUE_TOO_LARGE"),
    /** A line of an import file is malformed. */
    BAD_IMPORT_LINE(83, "BAD_IMPORT_LINE"),
    /** The key holds a value of another type. */
    WRONG_TYPE(100, "WRONG_TYPE"),
    /** The value is not an integer or is out of range. */
    NOT_AN_INTEGER(101, "NOT_AN_INTEGER"),
    /** The value is not a valid float. */
    NOT_A_FLOAT(102, "NOT_A_FLOAT"),
    /** An arithmetic operation would overflow. */
    OVERFLOW(103, "OVERFLOW"),
    /** A JSON value failed validation. */
    INVALID_JSON(104, "INVALID_JSON"),
    /** The key does not exist (Redis {@code LSET}). */
    NO_SUCH_KEY(105, "NO_SUCH_KEY"),
    /** An index is outside the list. */
    INDEX_OUT_OF_RANGE(106, "INDEX_OUT_OF_RANGE"),
    /**
     * A command run by {@code execute} answered with an error reply that is none of the codes
     * above (ERR syntax error, ERR unknown command, ...): the message is the reply's text.
     */
    COMMAND_ERROR(-1, "COMMAND_ERROR"),
    /**
     * The database (or transaction) was used after it was closed (or ended). A code of this
     * binding, not of the library.
     */
    CLOSED(-2, "CLOSED"),
    /** A code this binding does not know (a later library than the binding). */
    UNKNOWN(-99, "UNKNOWN");

    private final int number;
    private final String label;

    ErrorCode(int number, String label) {
        this.number = number;
        this.label = label;
    }

    /** The stable number ({@code ZIGGY_WRONG_TYPE} is 100, ...). */
    public int number() {
        return number;
    }

    /** The stable name, as the library spells it: "WRONG_TYPE", "BUSY", "EINTERNAL", .... */
    public String label() {
        return label;
    }

    /** The code with this number; {@link #UNKNOWN} for a number this binding does not know. */
    public static ErrorCode of(int number) {
        for (ErrorCode c : values()) {
            if (c.number == number) {
                return c;
            }
        }
        return UNKNOWN;
    }
}
