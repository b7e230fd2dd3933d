package ziggydb

// The cgo layer: every call into libziggydb goes through one small C helper in zg.c, which
// makes the library call, copies what Go needs out of it and, on a failure, copies
// ziggy_errmsg() in the same C call. ziggy_errmsg() is the message of the calling OS
// thread's last failure, and a goroutine may move to another thread (or another goroutine
// may fail on this one) between two cgo calls, so the message is never fetched in a call
// of its own. Every helper returns a zg_res by value: no Go variable has its address
// taken for an out-parameter, so nothing escapes to the heap for it.
//
// Go memory passed to C (keys, values, argument bytes, the scratch buffer a result is
// copied into) holds no Go pointers and is read or written during the call only; the
// library keeps none of it (ziggydb.h: "read during the call only").
//
// Static linking: libziggydb.a from `cargo build --release -p ziggydb-c` in the repository
// root, with the system libraries Rust's standard library needs, so a program built with
// this package needs no libziggydb.so at run time.

/*
#cgo CFLAGS: -I${SRCDIR}/../../crates/ziggydb-c/include -O2
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libziggydb.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
#include <malloc.h>
#include "zg.h"
*/
import "C"

import (
	"unsafe"
)

// bytesPtr is the address of b's first byte, or nil for an empty b (the library takes
// NULL with a length of 0).
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// resErr turns a failed helper's result into the error value for its code, freeing the
// copied message.
func resErr(r C.zg_res) error {
	msg := ""
	if r.err != nil {
		msg = C.GoString(r.err)
		C.free(unsafe.Pointer(r.err))
	}
	return newError(int(r.rc), msg)
}

// takeBytes returns the bytes of a helper's result: the first r.len bytes of dst when the
// helper copied them there, or a copy of the library's memory (which it frees).
func takeBytes(r C.zg_res, dst []byte) []byte {
	if r.ptr == nil {
		return dst[:int(r.len):int(r.len)]
	}
	b := make([]byte, int(r.len))
	copy(b, unsafe.Slice((*byte)(r.ptr), int(r.len)))
	C.ziggy_free(r.ptr)
	return b
}

// errName is the library's name of a status code (ziggy_errname).
func errName(code int) string {
	return C.GoString(C.ziggy_errname(C.int(code)))
}

// Version is the version of the linked library, e.g. "0.3.0".
func Version() string {
	return C.GoString(C.ziggy_version())
}

// cHeapInUse is the bytes the C heap (malloc, which the library uses too) has handed out
// and not had back: the tests' check that the binding frees what the library allocates.
func cHeapInUse() uint64 {
	return uint64(C.mallinfo2().uordblks)
}
