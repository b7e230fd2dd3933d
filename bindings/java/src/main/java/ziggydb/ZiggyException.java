package ziggydb;

import java.nio.charset.StandardCharsets;

/**
 * Every error of ZiggyDB: unchecked, with the library's stable {@link #code() code} and its
 * message kept as it is. Each code has a subclass nested here ({@link WrongType}, {@link Busy},
 * {@link DiskFull}, ...), so a caller catches the one it handles:
 *
 * <pre>{@code
 * try {
 *     db.incr("name");
 * } catch (ZiggyException.NotAnInteger e) {
 *     // the value is not a number
 * }
 * }</pre>
 *
 * <p>An error reply of a command run by {@code execute} is thrown too, with its Redis text as
 * the message ({@code "WRONGTYPE Operation against a key holding the wrong kind of value"}):
 * the replies Redis gives for the library's errors map back to their codes ({@code WRONGTYPE}
 * to {@link WrongType}, "ERR value is not an integer or out of range" to {@link
 * NotAnInteger}, ...), any other to {@link CommandError}.
 */
public class ZiggyException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public ZiggyException(ErrorCode code, String message) {
        super(message);
        this.code = code;
    }

    /** The error's code. */
    public ErrorCode code() {
        return code;
    }

    /** The code's stable number ({@code code().number()}). */
    public int codeNumber() {
        return code.number();
    }

    /** The exception for a failed C call: called by the JNI layer. */
    static ZiggyException fromNative(int number, byte[] message) {
        return of(ErrorCode.of(number), new String(message, StandardCharsets.UTF_8));
    }

    /** The exception for an error reply's text: called by the JNI layer. */
    static ZiggyException fromReply(byte[] reply) {
        String text = new String(reply, StandardCharsets.UTF_8);
        return of(replyCode(text), text);
    }

    /** The code of an error reply, from the words the library's replies use for them. */
    static ErrorCode replyCode(String text) {
        if (text.startsWith("WRONGTYPE ")) {
            return ErrorCode.WRONG_TYPE;
        }
        switch (text) {
            case "ERR value is not an integer or out of range":
                return ErrorCode.NOT_AN_INTEGER;
            case "ERR value is not a valid float":
                return ErrorCode.NOT_A_FLOAT;
            case "ERR increment or decrement would overflow":
                return ErrorCode.OVERFLOW;
            case "ERR no such key":
                return ErrorCode.NO_SUCH_KEY;
            case "ERR index out of range":
                return ErrorCode.INDEX_OUT_OF_RANGE;
            default:
                return ErrorCode.COMMAND_ERROR;
        }
    }

    /** The subclass of {@code code} with {@code message}. */
    public static ZiggyException of(ErrorCode code, String message) {
        switch (code) {
            case INTERNAL:
                return new Internal(message);
            case IO:
                return new Io(message);
            case PERMISSION_DENIED:
                return new PermissionDenied(message);
            case DISK_FULL:
                return new DiskFull(message);
            case COMPACT_NEEDS_SPACE:
                return new CompactNeedsSpace(message);
            case READ_ONLY_FILE_SYSTEM:
                return new ReadOnlyFileSystem(message);
            case OUT_OF_MEMORY:
                return new OutOfMemory(message);
            case CORRUPT_WAL:
                return new CorruptWal(message);
            case CHECKSUM_MISMATCH:
                return new ChecksumMismatch(message);
            case CORRUPT_SEGMENT:
                return new CorruptSegment(message);
            case CORRUPT_INDEX:
                return new CorruptIndex(message);
            case CORRUPT_MANIFEST:
                return new CorruptManifest(message);
            case CORRUPT_SHM:
                return new CorruptShm(message);
            case CORRUPT_COLLECTION:
                return new CorruptCollection(message);
            case CORRUPT_VALUE:
                return new CorruptValue(message);
            case MANIFEST_MISSING:
                return new ManifestMissing(message);
            case NEEDS_RECOVERY:
                return new NeedsRecovery(message);
            case NOT_A_DATABASE:
                return new NotADatabase(message);
            case NOT_A_DIRECTORY:
                return new NotADirectory(message);
            case INCOMPATIBLE_VERSION:
                return new IncompatibleVersion(message);
            case SYMLINK:
                return new Symlink(message);
            case NOT_REGULAR_FILE:
                return new NotRegularFile(message);
            case MODE_MISMATCH:
                return new ModeMismatch(message);
            case OPTIONS_MISMATCH:
                return new OptionsMismatch(message);
            case OPEN_READ_WRITE:
                return new OpenReadWrite(message);
            case IN_USE:
                return new InUse(message);
            case BUSY:
                return new Busy(message);
            case POISONED:
                return new Poisoned(message);
            case READ_ONLY:
                return new ReadOnly(message);
            case FORKED:
                return new Forked(message);
            case TXN_ACTIVE:
                return new TxnActive(message);
            case SUBSCRIBER_OVERRUN:
                return new SubscriberOverrun(message);
            case SNAPSHOT_TOO_OLD:
                return new SnapshotTooOld(message);
            case INVALID_ARGUMENT:
                return new InvalidArgument(message);
            case KEY_TOO_LARGE:
                return new KeyTooLarge(message);
            case VALUE_TOO_LARGE:
                return new ValueTooLarge(message);
            case BAD_IMPORT_LINE:
                return new BadImportLine(message);
            case WRONG_TYPE:
                return new WrongType(message);
            case NOT_AN_INTEGER:
                return new NotAnInteger(message);
            case NOT_A_FLOAT:
                return new NotAFloat(message);
            case OVERFLOW:
                return new Overflow(message);
            case INVALID_JSON:
                return new InvalidJson(message);
            case NO_SUCH_KEY:
                return new NoSuchKey(message);
            case INDEX_OUT_OF_RANGE:
                return new IndexOutOfRange(message);
            case COMMAND_ERROR:
                return new CommandError(message);
            case CLOSED:
                return new Closed(message);
            case UNKNOWN:
                return new Unknown(message);
            default:
                return new ZiggyException(code, message);
        }
    }

    /** {@link ErrorCode#INTERNAL}. */
    public static final class Internal extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public Internal(String message) {
            super(ErrorCode.INTERNAL, message);
        }
    }

    /** {@link ErrorCode#IO}. */
    public static final class Io extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public Io(String message) {
            super(ErrorCode.IO, message);
        }
    }

    /** {@link ErrorCode#PERMISSION_DENIED}. */
    public static final class PermissionDenied extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public PermissionDenied(String message) {
            super(ErrorCode.PERMISSION_DENIED, message);
        }
    }

    /** {@link ErrorCode#DISK_FULL}. */
    public static final class DiskFull extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public DiskFull(String message) {
            super(ErrorCode.DISK_FULL, message);
        }
    }

    /** {@link ErrorCode#COMPACT_NEEDS_SPACE}. */
    public static final class CompactNeedsSpace extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public CompactNeedsSpace(String message) {
            super(ErrorCode.COMPACT_NEEDS_SPACE, message);
        }
    }

    /** {@link ErrorCode#READ_ONLY_FILE_SYSTEM}. */
    public static final class ReadOnlyFileSystem extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public ReadOnlyFileSystem(String message) {
            super(ErrorCode.READ_ONLY_FILE_SYSTEM, message);
        }
    }

    /** {@link ErrorCode#OUT_OF_MEMORY}. */
    public static final class OutOfMemory extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public OutOfMemory(String message) {
            super(ErrorCode.OUT_OF_MEMORY, message);
        }
    }

    /** {@link ErrorCode#CORRUPT_WAL}. */
    public static final class CorruptWal extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public CorruptWal(String message) {
            super(ErrorCode.CORRUPT_WAL, message);
        }
    }

    /** {@link ErrorCode#CHECKSUM_MISMATCH}. */
    public static final class ChecksumMismatch extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public ChecksumMismatch(String message) {
            super(ErrorCode.CHECKSUM_MISMATCH, message);
        }
    }

    /** {@link ErrorCode#CORRUPT_SEGMENT}. */
    public static final class CorruptSegment extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public CorruptSegment(String message) {
            super(ErrorCode.CORRUPT_SEGMENT, message);
        }
    }

    /** {@link ErrorCode#CORRUPT_INDEX}. */
    public static final class CorruptIndex extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public CorruptIndex(String message) {
            super(ErrorCode.CORRUPT_INDEX, message);
        }
    }

    /** {@link ErrorCode#CORRUPT_MANIFEST}. */
    public static final class CorruptManifest extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public CorruptManifest(String message) {
            super(ErrorCode.CORRUPT_MANIFEST, message);
        }
    }

    /** {@link ErrorCode#CORRUPT_SHM}. */
    public static final class CorruptShm extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public CorruptShm(String message) {
            super(ErrorCode.CORRUPT_SHM, message);
        }
    }

    /** {@link ErrorCode#CORRUPT_COLLECTION}. */
    public static final class CorruptCollection extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public CorruptCollection(String message) {
            super(ErrorCode.CORRUPT_COLLECTION, message);
        }
    }

    /** {@link ErrorCode#CORRUPT_VALUE}. */
    public static final class CorruptValue extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public CorruptValue(String message) {
            super(ErrorCode.CORRUPT_VALUE, message);
        }
    }

    /** {@link ErrorCode#MANIFEST_MISSING}. */
    public static final class ManifestMissing extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public ManifestMissing(String message) {
            super(ErrorCode.MANIFEST_MISSING, message);
        }
    }

    /** {@link ErrorCode#NEEDS_RECOVERY}. */
    public static final class NeedsRecovery extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public NeedsRecovery(String message) {
            super(ErrorCode.NEEDS_RECOVERY, message);
        }
    }

    /** {@link ErrorCode#NOT_A_DATABASE}. */
    public static final class NotADatabase extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public NotADatabase(String message) {
            super(ErrorCode.NOT_A_DATABASE, message);
        }
    }

    /** {@link ErrorCode#NOT_A_DIRECTORY}. */
    public static final class NotADirectory extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public NotADirectory(String message) {
            super(ErrorCode.NOT_A_DIRECTORY, message);
        }
    }

    /** {@link ErrorCode#INCOMPATIBLE_VERSION}. */
    public static final class IncompatibleVersion extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public IncompatibleVersion(String message) {
            super(ErrorCode.INCOMPATIBLE_VERSION, message);
        }
    }

    /** {@link ErrorCode#SYMLINK}. */
    public static final class Symlink extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public Symlink(String message) {
            super(ErrorCode.SYMLINK, message);
        }
    }

    /** {@link ErrorCode#NOT_REGULAR_FILE}. */
    public static final class NotRegularFile extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public NotRegularFile(String message) {
            super(ErrorCode.NOT_REGULAR_FILE, message);
        }
    }

    /** {@link ErrorCode#MODE_MISMATCH}. */
    public static final class ModeMismatch extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public ModeMismatch(String message) {
            super(ErrorCode.MODE_MISMATCH, message);
        }
    }

    /** {@link ErrorCode#OPTIONS_MISMATCH}. */
    public static final class OptionsMismatch extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public OptionsMismatch(String message) {
            super(ErrorCode.OPTIONS_MISMATCH, message);
        }
    }

    /** {@link ErrorCode#OPEN_READ_WRITE}. */
    public static final class OpenReadWrite extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public OpenReadWrite(String message) {
            super(ErrorCode.OPEN_READ_WRITE, message);
        }
    }

    /** {@link ErrorCode#IN_USE}. */
    public static final class InUse extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public InUse(String message) {
            super(ErrorCode.IN_USE, message);
        }
    }

    /** {@link ErrorCode#BUSY}. */
    public static final class Busy extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public Busy(String message) {
            super(ErrorCode.BUSY, message);
        }
    }

    /** {@link ErrorCode#POISONED}. */
    public static final class Poisoned extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public Poisoned(String message) {
            super(ErrorCode.POISONED, message);
        }
    }

    /** {@link ErrorCode#READ_ONLY}. */
    public static final class ReadOnly extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public ReadOnly(String message) {
            super(ErrorCode.READ_ONLY, message);
        }
    }

    /** {@link ErrorCode#FORKED}. */
    public static final class Forked extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public Forked(String message) {
            super(ErrorCode.FORKED, message);
        }
    }

    /** {@link ErrorCode#SUBSCRIBER_OVERRUN}. */
    public static final class SubscriberOverrun extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public SubscriberOverrun(String message) {
            super(ErrorCode.SUBSCRIBER_OVERRUN, message);
        }
    }

    /** {@link ErrorCode#SNAPSHOT_TOO_OLD}. */
    public static final class SnapshotTooOld extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public SnapshotTooOld(String message) {
            super(ErrorCode.SNAPSHOT_TOO_OLD, message);
        }
    }

    /** {@link ErrorCode#TXN_ACTIVE}. */
    public static final class TxnActive extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public TxnActive(String message) {
            super(ErrorCode.TXN_ACTIVE, message);
        }
    }

    /** {@link ErrorCode#INVALID_ARGUMENT}. */
    public static final class InvalidArgument extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public InvalidArgument(String message) {
            super(ErrorCode.INVALID_ARGUMENT, message);
        }
    }

    /** {@link ErrorCode#KEY_TOO_LARGE}. */
    public static final class KeyTooLarge extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public KeyTooLarge(String message) {
            super(ErrorCode.KEY_TOO_LARGE, message);
        }
    }

    /** {@link ErrorCode#VALUE_TOO_LARGE}. */
    public static final class ValueTooLarge extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public ValueTooLarge(String message) {
            super(ErrorCode.VALUE_TOO_LARGE, message);
        }
    }

    /** {@link ErrorCode#BAD_IMPORT_LINE}. */
    public static final class BadImportLine extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public BadImportLine(String message) {
            super(ErrorCode.BAD_IMPORT_LINE, message);
        }
    }

    /** {@link ErrorCode#WRONG_TYPE}. */
    public static final class WrongType extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public WrongType(String message) {
            super(ErrorCode.WRONG_TYPE, message);
        }
    }

    /** {@link ErrorCode#NOT_AN_INTEGER}. */
    public static final class NotAnInteger extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public NotAnInteger(String message) {
            super(ErrorCode.NOT_AN_INTEGER, message);
        }
    }

    /** {@link ErrorCode#NOT_A_FLOAT}. */
    public static final class NotAFloat extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public NotAFloat(String message) {
            super(ErrorCode.NOT_A_FLOAT, message);
        }
    }

    /** {@link ErrorCode#OVERFLOW}. */
    public static final class Overflow extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public Overflow(String message) {
            super(ErrorCode.OVERFLOW, message);
        }
    }

    /** {@link ErrorCode#INVALID_JSON}. */
    public static final class InvalidJson extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public InvalidJson(String message) {
            super(ErrorCode.INVALID_JSON, message);
        }
    }

    /** {@link ErrorCode#NO_SUCH_KEY}. */
    public static final class NoSuchKey extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public NoSuchKey(String message) {
            super(ErrorCode.NO_SUCH_KEY, message);
        }
    }

    /** {@link ErrorCode#INDEX_OUT_OF_RANGE}. */
    public static final class IndexOutOfRange extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public IndexOutOfRange(String message) {
            super(ErrorCode.INDEX_OUT_OF_RANGE, message);
        }
    }

    /** {@link ErrorCode#COMMAND_ERROR}. */
    public static final class CommandError extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public CommandError(String message) {
            super(ErrorCode.COMMAND_ERROR, message);
        }
    }

    /** {@link ErrorCode#CLOSED}. */
    public static final class Closed extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public Closed(String message) {
            super(ErrorCode.CLOSED, message);
        }
    }

    /** {@link ErrorCode#UNKNOWN}. */
    public static final class Unknown extends ZiggyException {
        private static final long serialVersionUID = 1L;

        public Unknown(String message) {
            super(ErrorCode.UNKNOWN, message);
        }
    }
}
