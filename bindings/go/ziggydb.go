// Package ziggydb is the Go binding of ZiggyDB, an embedded key-value database that many
// processes on one machine open at once: cgo over the C API (libziggydb, linked
// statically).
//
//	db, err := ziggydb.Open("app.db", nil)
//	if err != nil { … }
//	defer db.Close()
//	err = db.Set([]byte("greeting"), []byte("hello"))
//	v, err := db.Get([]byte("greeting"))         // ErrNotFound when missing
//	n, err := db.Incr([]byte("visits"))          // atomic across every process
//	r, err := db.Do("LPUSH", "jobs", "a", "b")   // any command: r is int64(2)
//	err = db.Update(func(tx *ziggydb.Tx) error { // commit on nil, rollback otherwise
//		_, err := tx.IncrBy([]byte("balance:a"), -10)
//		…
//	})
//
// A *DB is safe for concurrent use by many goroutines. A *Tx belongs to the Update call
// that made it and may be used from other goroutines it starts (one call at a time; calls
// are serialised), but not after Update returns.
package ziggydb

/*
#include "zg.h"
*/
import "C"

import (
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Durability says when a commit returns.
type Durability int

const (
	// Immediate: a commit returns once it is on stable storage (the default).
	Immediate Durability = 0
	// Batched: a commit returns once every process sees it, and is fsynced at most
	// Options.BatchDelay later (DB.Sync forces it).
	Batched Durability = 1
)

// Options for Open. The zero value (and a nil *Options) is the defaults.
type Options struct {
	Durability Durability
	// BatchDelay: with Batched, the longest time from a commit to its fsync; 0 is the
	// default (50 ms).
	BatchDelay time.Duration
	// LockTimeout: how long a write waits for the writer lock before ErrBusy; 0 is the
	// default (10 s), a negative value waits forever, and a value under a millisecond does
	// not wait.
	LockTimeout time.Duration
	// SegmentSize: bytes of a new segment file, 64 KiB to 4 GiB - 1; 0 is the default
	// (64 MiB). A value or a transaction must fit in one segment.
	SegmentSize uint64
	// NoAutoCompact turns off compaction in a background thread.
	NoAutoCompact bool
	// ExpiryInterval: how often a background thread deletes expired keys; 0 is the default
	// (100 ms), negative never (expired keys still read as missing).
	ExpiryInterval time.Duration
	// ReadOnly opens the database read-only: every write fails with ErrReadOnly.
	ReadOnly bool
	// Mode: file mode of a new database, e.g. 0o600 or 0o660; 0 is 0o600, or the mode an
	// existing database has.
	Mode os.FileMode
}

// DB is an open database. Safe for concurrent use; Close it when done (a DB that becomes
// unreachable unclosed is closed by a finalizer, but do not count on when).
type DB struct {
	mu   sync.RWMutex // read-held by every call, write-held by Close
	db   *C.ziggy_db  // nil once closed
	path string
}

// Open opens the database directory path, creating it unless opts.ReadOnly. A second Open
// of one directory in one process shares the first's state and must ask for the same
// options (ErrOptionsMismatch). Open a database again in a child process rather than
// sharing a handle across fork (ErrForked).
func Open(path string, opts *Options) (*DB, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	custom := C.int(0)
	o := C.zg_options_default()
	if opts != nil {
		custom = 1
		o.durability = C.int(opts.Durability)
		if opts.BatchDelay > 0 {
			o.batch_delay_ms = C.uint32_t(opts.BatchDelay.Milliseconds())
		}
		switch {
		case opts.LockTimeout < 0:
			o.lock_timeout_ms = -1
		case opts.LockTimeout > 0:
			o.lock_timeout_ms = C.int64_t(opts.LockTimeout.Milliseconds())
		}
		o.segment_size = C.uint64_t(opts.SegmentSize)
		o.auto_compact = C.bool(!opts.NoAutoCompact)
		switch {
		case opts.ExpiryInterval < 0:
			o.active_expiry_ms = -1
		case opts.ExpiryInterval > 0:
			o.active_expiry_ms = C.int64_t(opts.ExpiryInterval.Milliseconds())
		}
		o.read_only = C.bool(opts.ReadOnly)
		o.mode = C.uint32_t(opts.Mode.Perm())
	}
	var h *C.ziggy_db
	r := C.zg_open(cpath, custom, o, &h)
	if r.rc != C.ZIGGY_OK {
		return nil, resErr(r)
	}
	db := &DB{db: h, path: path}
	runtime.SetFinalizer(db, (*DB).Close)
	return db, nil
}

// Path is the directory the database was opened at.
func (db *DB) Path() string { return db.path }

// Close closes the database; it waits for calls in progress on other goroutines. A second
// Close does nothing. Calls after Close fail with ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.db != nil {
		C.ziggy_close(db.db)
		db.db = nil
		runtime.SetFinalizer(db, nil)
	}
	return nil
}

// handle read-locks db and returns its handle, or ErrClosed. The caller unlocks.
func (db *DB) handle() (*C.ziggy_db, error) {
	db.mu.RLock()
	if db.db == nil {
		db.mu.RUnlock()
		return nil, ErrClosed
	}
	return db.db, nil
}

// Get reads key's value as bytes (an integer as its decimal text, as Redis GET shows it);
// ErrNotFound when the key is missing, ErrWrongType when it holds a collection.
func (db *DB) Get(key []byte) ([]byte, error) {
	h, err := db.handle()
	if err != nil {
		return nil, err
	}
	defer db.mu.RUnlock()
	return opGet(h, nil, key)
}

// Set writes key = value as bytes, in a transaction of its own.
func (db *DB) Set(key, value []byte) error {
	h, err := db.handle()
	if err != nil {
		return err
	}
	defer db.mu.RUnlock()
	return opSet(h, nil, key, value)
}

// Delete deletes key, in a transaction of its own; ErrNotFound if it did not exist.
func (db *DB) Delete(key []byte) error {
	h, err := db.handle()
	if err != nil {
		return err
	}
	defer db.mu.RUnlock()
	return opDel(h, nil, key)
}

// Incr adds 1 to the integer at key (a missing key counts as 0), atomically across every
// process, and returns the new value.
func (db *DB) Incr(key []byte) (int64, error) { return db.IncrBy(key, 1) }

// IncrBy adds delta to the integer at key (a missing key counts as 0), atomically across
// every process, and returns the new value; ErrNotAnInteger if the value is not an
// integer, ErrOverflow past 64 bits.
func (db *DB) IncrBy(key []byte, delta int64) (int64, error) {
	h, err := db.handle()
	if err != nil {
		return 0, err
	}
	defer db.mu.RUnlock()
	return opIncr(h, nil, key, delta)
}

// GetValue reads key as the typed value it was stored as; ErrNotFound when missing.
func (db *DB) GetValue(key []byte) (Value, error) {
	h, err := db.handle()
	if err != nil {
		return Value{}, err
	}
	defer db.mu.RUnlock()
	return opGetValue(h, nil, key)
}

// SetValue writes key = the typed value v, in a transaction of its own.
func (db *DB) SetValue(key []byte, v Value) error {
	h, err := db.handle()
	if err != nil {
		return err
	}
	defer db.mu.RUnlock()
	return opSetValue(h, nil, key, v)
}

// SetString writes key = s as a string (UTF-8 text).
func (db *DB) SetString(key []byte, s string) error { return db.SetValue(key, String(s)) }

// SetInt writes key = i as an integer.
func (db *DB) SetInt(key []byte, i int64) error { return db.SetValue(key, Int(i)) }

// SetFloat writes key = f as a float.
func (db *DB) SetFloat(key []byte, f float64) error { return db.SetValue(key, Float(f)) }

// SetBool writes key = b as a boolean.
func (db *DB) SetBool(key []byte, b bool) error { return db.SetValue(key, Bool(b)) }

// SetTime writes key = t as a timestamp (to the millisecond).
func (db *DB) SetTime(key []byte, t time.Time) error { return db.SetValue(key, Time(t)) }

// SetJSON writes key = the JSON document text (validated: ErrInvalidJSON).
func (db *DB) SetJSON(key []byte, text []byte) error { return db.SetValue(key, JSON(text)) }

// GetInt reads key as an integer: an int, or text that is an integer as Redis reads one;
// ErrNotAnInteger otherwise, ErrNotFound when missing.
func (db *DB) GetInt(key []byte) (int64, error) {
	h, err := db.handle()
	if err != nil {
		return 0, err
	}
	defer db.mu.RUnlock()
	r := C.zg_get_int(h, bytesPtr(key), C.size_t(len(key)))
	if r.rc != C.ZIGGY_OK {
		return 0, resErr(r)
	}
	return int64(r.integer), nil
}

// GetFloat reads key as a float: a float or an int, or text that is a number;
// ErrNotAFloat otherwise, ErrNotFound when missing.
func (db *DB) GetFloat(key []byte) (float64, error) {
	h, err := db.handle()
	if err != nil {
		return 0, err
	}
	defer db.mu.RUnlock()
	r := C.zg_get_float(h, bytesPtr(key), C.size_t(len(key)))
	if r.rc != C.ZIGGY_OK {
		return 0, resErr(r)
	}
	return float64(r.real), nil
}

// Type is the type of key's value; TypeNone (and no error) when the key is missing.
func (db *DB) Type(key []byte) (Type, error) {
	h, err := db.handle()
	if err != nil {
		return TypeNone, err
	}
	defer db.mu.RUnlock()
	r := C.zg_type(h, bytesPtr(key), C.size_t(len(key)))
	switch r.rc {
	case C.ZIGGY_OK:
		return Type(r.vtype), nil
	case C.ZIGGY_NOTFOUND:
		return TypeNone, nil
	}
	return TypeNone, resErr(r)
}

// Sync makes every commit so far durable (for Batched durability).
func (db *DB) Sync() error {
	h, err := db.handle()
	if err != nil {
		return err
	}
	defer db.mu.RUnlock()
	if r := C.zg_sync(h); r.rc != C.ZIGGY_OK {
		return resErr(r)
	}
	return nil
}

// The operations, on the database (tx nil) or inside a transaction.

// getBuf is the size of the buffer a read copies a value into in the same C call; a larger
// value takes a second call to copy and free it.
const getBuf = 128

func opGet(h *C.ziggy_db, tx *C.ziggy_txn, key []byte) ([]byte, error) {
	dst := make([]byte, getBuf)
	r := C.zg_get(h, tx, bytesPtr(key), C.size_t(len(key)), unsafe.Pointer(&dst[0]), getBuf)
	if r.rc != C.ZIGGY_OK {
		return nil, resErr(r)
	}
	return takeBytes(r, dst), nil
}

func opSet(h *C.ziggy_db, tx *C.ziggy_txn, key, value []byte) error {
	r := C.zg_set(h, tx, bytesPtr(key), C.size_t(len(key)), bytesPtr(value), C.size_t(len(value)))
	if r.rc != C.ZIGGY_OK {
		return resErr(r)
	}
	return nil
}

func opDel(h *C.ziggy_db, tx *C.ziggy_txn, key []byte) error {
	r := C.zg_del(h, tx, bytesPtr(key), C.size_t(len(key)))
	if r.rc != C.ZIGGY_OK {
		return resErr(r)
	}
	return nil
}

func opIncr(h *C.ziggy_db, tx *C.ziggy_txn, key []byte, delta int64) (int64, error) {
	r := C.zg_incrby(h, tx, bytesPtr(key), C.size_t(len(key)), C.int64_t(delta))
	if r.rc != C.ZIGGY_OK {
		return 0, resErr(r)
	}
	return int64(r.integer), nil
}

func opGetValue(h *C.ziggy_db, tx *C.ziggy_txn, key []byte) (Value, error) {
	var dst [getBuf]byte
	r := C.zg_get_value(h, tx, bytesPtr(key), C.size_t(len(key)), unsafe.Pointer(&dst[0]), getBuf)
	if r.rc != C.ZIGGY_OK {
		return Value{}, resErr(r)
	}
	v := Value{Type: Type(r.vtype), Int: int64(r.integer), Float: float64(r.real)}
	switch v.Type {
	case TypeBytes, TypeString, TypeJSON:
		if r.ptr == nil {
			v.Data = append([]byte{}, dst[:int(r.len)]...)
		} else {
			v.Data = takeBytes(r, nil)
		}
	}
	return v, nil
}

func opSetValue(h *C.ziggy_db, tx *C.ziggy_txn, key []byte, v Value) error {
	r := C.zg_set_value(h, tx, bytesPtr(key), C.size_t(len(key)), C.int(v.Type),
		C.int64_t(v.Int), C.double(v.Float), bytesPtr(v.Data), C.size_t(len(v.Data)))
	if r.rc != C.ZIGGY_OK {
		return resErr(r)
	}
	return nil
}
