package ziggydb

/*
#include "zg.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unsafe"
)

// Do runs one command, as the ziggy tool and Redis take it, atomically on its own (a write
// command is one transaction), and returns its reply as a Go value:
//
//	integer              int64
//	bulk string          []byte (binary-safe; nil reply for a missing key is nil)
//	status (OK, …)       string
//	verbatim text        string
//	double               float64
//	boolean              bool
//	array, set           []any
//	map                  map[string]any
//	nil                  nil
//	error reply          a *ReplyError as the error (errors.Is(err, ErrWrongType) for WRONGTYPE),
//	                     or a *ReplyError element inside an array
//
// Arguments may be string, []byte, any integer type, float32/64 or bool (1 or 0).
// MULTI/EXEC, WATCH and BEGIN need state across calls and are error replies here: use
// Update for a transaction.
func (db *DB) Do(args ...any) (any, error) {
	h, err := db.handle()
	if err != nil {
		return nil, err
	}
	defer db.mu.RUnlock()
	return opDo(h, nil, args)
}

// doScratch is where a reply that fits is flattened in the call itself; a pool, since the
// memory passed to C escapes to the heap.
var doScratch = sync.Pool{New: func() any { return new([512]byte) }}

// packArgs lays the arguments out one after another, with their lengths.
func packArgs(args []any) ([]byte, []C.size_t, error) {
	if len(args) == 0 {
		return nil, nil, &Error{Code: ErrInvalidArgument.Code, Name: ErrInvalidArgument.Name,
			Msg: "Do needs a command"}
	}
	if len(args) > math.MaxInt32 {
		return nil, nil, &Error{Code: ErrInvalidArgument.Code, Name: ErrInvalidArgument.Name,
			Msg: "too many arguments"}
	}
	size := 0
	for _, a := range args {
		switch a := a.(type) {
		case string:
			size += len(a)
		case []byte:
			size += len(a)
		default:
			size += 24
		}
	}
	data := make([]byte, 0, size)
	lens := make([]C.size_t, len(args))
	for i, a := range args {
		before := len(data)
		switch a := a.(type) {
		case string:
			data = append(data, a...)
		case []byte:
			data = append(data, a...)
		case int:
			data = strconv.AppendInt(data, int64(a), 10)
		case int8:
			data = strconv.AppendInt(data, int64(a), 10)
		case int16:
			data = strconv.AppendInt(data, int64(a), 10)
		case int32:
			data = strconv.AppendInt(data, int64(a), 10)
		case int64:
			data = strconv.AppendInt(data, a, 10)
		case uint:
			data = strconv.AppendUint(data, uint64(a), 10)
		case uint8:
			data = strconv.AppendUint(data, uint64(a), 10)
		case uint16:
			data = strconv.AppendUint(data, uint64(a), 10)
		case uint32:
			data = strconv.AppendUint(data, uint64(a), 10)
		case uint64:
			data = strconv.AppendUint(data, a, 10)
		case float32:
			data = strconv.AppendFloat(data, float64(a), 'g', -1, 32)
		case float64:
			data = strconv.AppendFloat(data, a, 'g', -1, 64)
		case bool:
			if a {
				data = append(data, '1')
			} else {
				data = append(data, '0')
			}
		default:
			return nil, nil, &Error{Code: ErrInvalidArgument.Code, Name: ErrInvalidArgument.Name,
				Msg: fmt.Sprintf("argument %d is a %T: Do takes strings, []byte, numbers and bools", i, a)}
		}
		lens[i] = C.size_t(len(data) - before)
	}
	return data, lens, nil
}

func opDo(h *C.ziggy_db, tx *C.ziggy_txn, args []any) (any, error) {
	data, lens, err := packArgs(args)
	if err != nil {
		return nil, err
	}
	var dataPtr *C.char
	if len(data) > 0 {
		dataPtr = (*C.char)(unsafe.Pointer(&data[0]))
	}
	buf := doScratch.Get().(*[512]byte)
	defer doScratch.Put(buf)
	scratch := buf[:]
	r := C.zg_exec(h, tx, C.int(len(args)), dataPtr, &lens[0], unsafe.Pointer(&scratch[0]),
		C.size_t(len(scratch)))
	if r.rc != C.ZIGGY_OK {
		return nil, resErr(r)
	}
	var flat []byte
	if r.ptr == nil {
		flat = scratch[:int(r.len)]
	} else {
		flat = unsafe.Slice((*byte)(r.ptr), int(r.len))
		defer C.free(r.ptr)
	}
	d := decoder{buf: flat}
	v := d.reply()
	if d.err != nil {
		return nil, d.err
	}
	if e, ok := v.(*ReplyError); ok {
		return nil, e
	}
	return v, nil
}

// decoder reads a flattened reply (zg.c, zg_flatten), copying everything out of it.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = &Error{Code: ErrInternal.Code, Name: ErrInternal.Name,
			Msg: "malformed reply from the library: " + what}
	}
}

func (d *decoder) u64() uint64 {
	if len(d.buf) < 8 {
		d.fail("short")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.buf)
	d.buf = d.buf[8:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.u64()
	if uint64(len(d.buf)) < n {
		d.fail("short text")
		return nil
	}
	b := make([]byte, int(n))
	copy(b, d.buf)
	d.buf = d.buf[n:]
	return b
}

// Reply kinds (ziggydb.h, ZIGGY_REPLY_*).
const (
	replyBulk     = 1
	replyArray    = 2
	replyInteger  = 3
	replyNil      = 4
	replyStatus   = 5
	replyError    = 6
	replyDouble   = 7
	replyBool     = 8
	replyMap      = 9
	replySet      = 10
	replyVerbatim = 14
)

func (d *decoder) reply() any {
	if d.err != nil {
		return nil
	}
	if len(d.buf) == 0 {
		d.fail("empty")
		return nil
	}
	kind := d.buf[0]
	d.buf = d.buf[1:]
	switch kind {
	case replyInteger:
		return int64(d.u64())
	case replyBool:
		return d.u64() != 0
	case replyDouble:
		return math.Float64frombits(d.u64())
	case replyBulk:
		return d.bytes()
	case replyStatus, replyVerbatim:
		return string(d.bytes())
	case replyError:
		return &ReplyError{Msg: string(d.bytes())}
	case replyNil:
		return nil
	case replyArray, replySet:
		n := d.u64()
		// Each element takes at least one byte: a count beyond that is damage, not a
		// size to allocate.
		if n > uint64(len(d.buf)) {
			d.fail("count")
			return nil
		}
		items := make([]any, int(n))
		for i := range items {
			items[i] = d.reply()
		}
		return items
	case replyMap:
		n := d.u64()
		if n%2 != 0 || n > uint64(len(d.buf)) {
			d.fail("map count")
			return nil
		}
		m := make(map[string]any, int(n/2))
		for i := uint64(0); i < n; i += 2 {
			k := d.reply()
			m[mapKey(k)] = d.reply()
		}
		return m
	}
	d.fail(fmt.Sprintf("kind %d", kind))
	return nil
}

// mapKey is a map reply's key as a string.
func mapKey(k any) string {
	switch k := k.(type) {
	case []byte:
		return string(k)
	case string:
		return k
	}
	return fmt.Sprint(k)
}
