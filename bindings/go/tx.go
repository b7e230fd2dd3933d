package ziggydb

/*
#include "zg.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"time"
)

// Tx is a write transaction, given to the function Update runs. It holds the database's
// writer lock (of every process) until Update returns; its reads see its own writes, and
// none of its writes are visible to anyone else before the commit.
//
// A Tx may be used from goroutines the function starts (calls are serialised; the library
// lets a transaction move between OS threads), but only until Update returns: after that
// every call fails with ErrTxDone. Do not write through the DB (db.Set, a nested
// db.Update, …) inside the function: that write waits for the writer lock this transaction
// holds, and fails with ErrBusy after Options.LockTimeout.
type Tx struct {
	mu sync.Mutex
	tx *C.ziggy_txn // nil once Update returned
}

// Update runs fn in a write transaction and commits it when fn returns nil. When fn returns
// an error the transaction rolls back and Update returns that error; when fn panics it
// rolls back and the panic goes on. The commit's own failure (ErrDiskFull, …) is Update's
// error. A transaction waits up to Options.LockTimeout for the writer lock (ErrBusy).
func (db *DB) Update(fn func(tx *Tx) error) (err error) {
	h, err := db.handle()
	if err != nil {
		return err
	}
	var txn *C.ziggy_txn
	r := C.zg_txn_begin(h, &txn)
	// The transaction keeps the database open by itself: the DB's lock is not held while
	// fn runs, so fn may call the DB's reads (and a Close elsewhere does not wait for fn).
	db.mu.RUnlock()
	if r.rc != C.ZIGGY_OK {
		return resErr(r)
	}
	tx := &Tx{tx: txn}
	committed := false
	defer func() {
		if committed {
			return
		}
		// fn returned an error or panicked: roll back (the panic, if any, goes on).
		tx.mu.Lock()
		C.ziggy_txn_rollback(tx.tx)
		tx.tx = nil
		tx.mu.Unlock()
	}()
	if err := fn(tx); err != nil {
		return err
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	committed = true
	r = C.zg_txn_commit(tx.tx) // frees the transaction whatever the outcome
	tx.tx = nil
	if r.rc != C.ZIGGY_OK {
		return resErr(r)
	}
	return nil
}

// lock locks tx and returns its transaction, or ErrTxDone. The caller unlocks.
func (tx *Tx) lock() (*C.ziggy_txn, error) {
	tx.mu.Lock()
	if tx.tx == nil {
		tx.mu.Unlock()
		return nil, ErrTxDone
	}
	return tx.tx, nil
}

// Get reads key inside the transaction (seeing its own writes); ErrNotFound when missing.
func (tx *Tx) Get(key []byte) ([]byte, error) {
	t, err := tx.lock()
	if err != nil {
		return nil, err
	}
	defer tx.mu.Unlock()
	return opGet(nil, t, key)
}

// Set writes key = value as bytes.
func (tx *Tx) Set(key, value []byte) error {
	t, err := tx.lock()
	if err != nil {
		return err
	}
	defer tx.mu.Unlock()
	return opSet(nil, t, key, value)
}

// Delete deletes key; ErrNotFound if it did not exist.
func (tx *Tx) Delete(key []byte) error {
	t, err := tx.lock()
	if err != nil {
		return err
	}
	defer tx.mu.Unlock()
	return opDel(nil, t, key)
}

// Incr adds 1 to the integer at key and returns the new value.
func (tx *Tx) Incr(key []byte) (int64, error) { return tx.IncrBy(key, 1) }

// IncrBy adds delta to the integer at key and returns the new value.
func (tx *Tx) IncrBy(key []byte, delta int64) (int64, error) {
	t, err := tx.lock()
	if err != nil {
		return 0, err
	}
	defer tx.mu.Unlock()
	return opIncr(nil, t, key, delta)
}

// GetValue reads key as its typed value; ErrNotFound when missing.
func (tx *Tx) GetValue(key []byte) (Value, error) {
	t, err := tx.lock()
	if err != nil {
		return Value{}, err
	}
	defer tx.mu.Unlock()
	return opGetValue(nil, t, key)
}

// SetValue writes key = the typed value v.
func (tx *Tx) SetValue(key []byte, v Value) error {
	t, err := tx.lock()
	if err != nil {
		return err
	}
	defer tx.mu.Unlock()
	return opSetValue(nil, t, key, v)
}

// SetString writes key = s as a string.
func (tx *Tx) SetString(key []byte, s string) error { return tx.SetValue(key, String(s)) }

// SetInt writes key = i as an integer.
func (tx *Tx) SetInt(key []byte, i int64) error { return tx.SetValue(key, Int(i)) }

// SetFloat writes key = f as a float.
func (tx *Tx) SetFloat(key []byte, f float64) error { return tx.SetValue(key, Float(f)) }

// SetBool writes key = b as a boolean.
func (tx *Tx) SetBool(key []byte, b bool) error { return tx.SetValue(key, Bool(b)) }

// SetTime writes key = t as a timestamp (to the millisecond).
func (tx *Tx) SetTime(key []byte, t time.Time) error { return tx.SetValue(key, Time(t)) }

// SetJSON writes key = the JSON document text.
func (tx *Tx) SetJSON(key []byte, text []byte) error { return tx.SetValue(key, JSON(text)) }

// String names the transaction for debugging.
func (tx *Tx) String() string {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return fmt.Sprintf("ziggydb.Tx{done: %v}", tx.tx == nil)
}

// Do runs one data command inside the transaction (it sees the transaction's writes, and
// its own writes commit or roll back with it), with replies as DB.Do gives them.
// Commands that manage transactions or sessions (MULTI, BEGIN, WATCH, …) are error
// replies.
func (tx *Tx) Do(args ...any) (any, error) {
	t, err := tx.lock()
	if err != nil {
		return nil, err
	}
	defer tx.mu.Unlock()
	return opDo(nil, t, args)
}
