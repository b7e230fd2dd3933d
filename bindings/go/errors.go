package ziggydb

import (
	"fmt"
	"strings"
)

// Error is a failure reported by the library: its stable code (the C API's ZIGGY_* status,
// README "Errors"), the code's name and the library's message. Compare with errors.Is
// against the Err… values, which match by code:
//
//	if errors.Is(err, ziggydb.ErrBusy) { … }
//
// or take the details with errors.As:
//
//	var zerr *ziggydb.Error
//	if errors.As(err, &zerr) { log.Print(zerr.Code, zerr.Name, zerr.Msg) }
type Error struct {
	// Code is the library's status code, e.g. 100 for WRONG_TYPE.
	Code int
	// Name is the code's name, e.g. "WRONG_TYPE".
	Name string
	// Msg is the library's message for this failure; empty on the Err… values.
	Msg string

	// group, on ErrCorrupt only: it matches every code from lo to hi.
	lo, hi int
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return "ziggydb: " + e.Name
	}
	return fmt.Sprintf("ziggydb: %s (%s)", e.Msg, e.Name)
}

// Is reports whether target is an Err… value for e's code (or ErrCorrupt, for any kind of
// corruption), so that errors.Is(err, ziggydb.ErrWrongType) holds for every WRONG_TYPE
// failure whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t.hi != 0 {
		return e.Code >= t.lo && e.Code <= t.hi
	}
	return t.Code == e.Code
}

func code(c int, name string) *Error { return &Error{Code: c, Name: name} }

// The library's error codes, one value each (ziggydb.h, ZIGGY_*). Each matches, with
// errors.Is, every *Error of its code.
var (
	// ErrNotFound: the key does not exist (Get, GetValue, GetInt, GetFloat, Delete).
	ErrNotFound = code(1, "NOTFOUND")
	// ErrInternal: a bug in the library (a panic caught at the C boundary).
	ErrInternal = code(2, "EINTERNAL")

	ErrIO                 = code(10, "IO")
	ErrPermissionDenied   = code(11, "PERMISSION_DENIED")
	ErrDiskFull           = code(12, "DISK_FULL")
	ErrCompactNeedsSpace  = code(13, "COMPACT_NEEDS_SPACE")
	ErrReadOnlyFileSystem = code(14, "READ_ONLY_FILE_SYSTEM")
	ErrOutOfMemory        = code(15, "OUT_OF_MEMORY")

	ErrCorruptWAL        = code(20, "CORRUPT_WAL")
	ErrChecksumMismatch  = code(21, "CHECKSUM_MISMATCH")
	ErrCorruptSegment    = code(22, "CORRUPT_SEGMENT")
	ErrCorruptIndex      = code(23, "CORRUPT_INDEX")
	ErrCorruptManifest   = code(24, "CORRUPT_MANIFEST")
	ErrCorruptShm        = code(25, "CORRUPT_SHM")
	ErrCorruptCollection = code(26, "CORRUPT_COLLECTION")
	ErrCorruptValue      = code(27, "CORRUPT_VALUE")
	ErrManifestMissing   = code(28, "MANIFEST_MISSING")
	ErrNeedsRecovery     = code(29, "NEEDS_RECOVERY")

	ErrNotADatabase        = code(40, "NOT_A_DATABASE")
	ErrNotADirectory       = code(41, "NOT_A_DIRECTORY")
	ErrIncompatibleVersion = code(42, "INCOMPATIBLE_VERSION")
	ErrSymlink             = code(43, "SYMLINK")
	ErrNotRegularFile      = code(44, "NOT_REGULAR_FILE")
	ErrModeMismatch        = code(45, "MODE_MISMATCH")
	ErrOptionsMismatch     = code(46, "OPTIONS_MISMATCH")
	ErrOpenReadWrite       = code(47, "OPEN_READ_WRITE")
	ErrInUse               = code(48, "IN_USE")

	// ErrBusy: a lock was not granted within Options.LockTimeout.
	ErrBusy = code(60, "BUSY")
	// ErrPoisoned: an earlier write failed; the handle refuses writes.
	ErrPoisoned = code(61, "POISONED")
	// ErrReadOnly: a write on a database opened with Options.ReadOnly.
	ErrReadOnly = code(62, "READ_ONLY")
	// ErrForked: a handle used in a forked child of the process that opened it.
	ErrForked    = code(63, "FORKED")
	ErrTxnActive = code(64, "TXN_ACTIVE")
	// ErrSubscriberOverrun: a subscriber fell behind and missed messages.
	ErrSubscriberOverrun = code(65, "SUBSCRIBER_OVERRUN")
	// ErrSnapshotTooOld: a read view held past what the shared undo ring keeps.
	ErrSnapshotTooOld = code(66, "SNAPSHOT_TOO_OLD")

	ErrInvalidArgument = code(80, "INVALID_ARGUMENT")
	ErrKeyTooLarge     = code(81, "KEY_TOO_LARGE")
	ErrValueTooLarge   = code(82, "VALUE_TOO_LARGE")
	ErrBadImportLine   = code(83, "BAD_IMPORT_LINE")

	// ErrWrongType: the key holds a value of another type. A WRONGTYPE error reply from
	// Do matches it too.
	ErrWrongType       = code(100, "WRONG_TYPE")
	ErrNotAnInteger    = code(101, "NOT_AN_INTEGER")
	ErrNotAFloat       = code(102, "NOT_A_FLOAT")
	ErrOverflow        = code(103, "OVERFLOW")
	ErrInvalidJSON     = code(104, "INVALID_JSON")
	ErrNoSuchKey       = code(105, "NO_SUCH_KEY")
	ErrIndexOutOfRange = code(106, "INDEX_OUT_OF_RANGE")

	// ErrCorrupt matches every kind of damage to the files (CORRUPT_WAL …
	// CORRUPT_VALUE); compare with the values above for one kind.
	ErrCorrupt = &Error{Name: "CORRUPT", lo: 20, hi: 27}

	// ErrClosed: a call on a DB after Close. Go's own, not a library code.
	ErrClosed = code(-1, "CLOSED")
	// ErrTxDone: a call on a Tx after its Update returned. Go's own, not a library code.
	ErrTxDone = code(-2, "TX_DONE")
)

// codes is every library code's value, by code.
var codes = map[int]*Error{}

func init() {
	for _, e := range []*Error{
		ErrNotFound, ErrInternal, ErrIO, ErrPermissionDenied, ErrDiskFull,
		ErrCompactNeedsSpace, ErrReadOnlyFileSystem, ErrOutOfMemory, ErrCorruptWAL,
		ErrChecksumMismatch, ErrCorruptSegment, ErrCorruptIndex, ErrCorruptManifest,
		ErrCorruptShm, ErrCorruptCollection, ErrCorruptValue, ErrManifestMissing,
		ErrNeedsRecovery, ErrNotADatabase, ErrNotADirectory, ErrIncompatibleVersion,
		ErrSymlink, ErrNotRegularFile, ErrModeMismatch, ErrOptionsMismatch, ErrOpenReadWrite,
		ErrInUse, ErrBusy, ErrPoisoned, ErrReadOnly, ErrForked, ErrTxnActive, ErrSubscriberOverrun,
		ErrSnapshotTooOld,
		ErrInvalidArgument, ErrKeyTooLarge, ErrValueTooLarge, ErrBadImportLine, ErrWrongType,
		ErrNotAnInteger, ErrNotAFloat, ErrOverflow, ErrInvalidJSON, ErrNoSuchKey,
		ErrIndexOutOfRange,
	} {
		codes[e.Code] = e
	}
}

// newError is the error for a failed call's code and message. ErrNotFound itself for
// NOTFOUND (a status with no message), so that err == ErrNotFound holds as well.
func newError(c int, msg string) error {
	if c == ErrNotFound.Code {
		return ErrNotFound
	}
	name := "UNKNOWN"
	if e, ok := codes[c]; ok {
		name = e.Name
	}
	return &Error{Code: c, Name: name, Msg: msg}
}

// ReplyError is an error reply to a command run with Do: the command failed (a wrong type,
// a syntax error, an unknown command), not the call. Msg is Redis's text, e.g.
// "WRONGTYPE Operation against a key holding the wrong kind of value".
//
// errors.Is matches ErrWrongType for a WRONGTYPE reply, and ErrNotAnInteger, ErrNotAFloat
// and ErrOverflow for the replies those failures give.
type ReplyError struct {
	Msg string
}

func (e *ReplyError) Error() string { return e.Msg }

// Prefix is the reply's error code, its first word: "ERR", "WRONGTYPE", ….
func (e *ReplyError) Prefix() string {
	p, _, _ := strings.Cut(e.Msg, " ")
	return p
}

// The error replies whose failure has a library code of its own (commands::error_reply).
var replyCodes = map[string]*Error{
	"ERR value is not an integer or out of range": ErrNotAnInteger,
	"ERR value is not a valid float":              ErrNotAFloat,
	"ERR increment or decrement would overflow":   ErrOverflow,
}

// Is reports whether target is the Err… value of the reply's failure.
func (e *ReplyError) Is(target error) bool {
	if e.Prefix() == "WRONGTYPE" {
		return target == ErrWrongType
	}
	c, ok := replyCodes[e.Msg]
	return ok && target == c
}
