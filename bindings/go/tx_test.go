package ziggydb

import (
	"errors"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestUpdateCommits(t *testing.T) {
	db := openTemp(t)
	must(t, db.Set([]byte("k"), []byte("old")))
	err := db.Update(func(tx *Tx) error {
		if v, err := tx.Get([]byte("k")); err != nil || string(v) != "old" {
			t.Errorf("tx.Get = %q, %v", v, err)
		}
		must(t, tx.Set([]byte("k"), []byte("new")))
		must(t, tx.SetInt([]byte("i"), 7))
		must(t, tx.SetString([]byte("s"), "ziggy ✓"))
		must(t, tx.SetFloat([]byte("f"), 2.5))
		must(t, tx.SetBool([]byte("b"), true))
		must(t, tx.SetTime([]byte("t"), time.UnixMilli(1767225600123)))
		must(t, tx.SetJSON([]byte("j"), []byte(`[1,2]`)))
		if n, err := tx.IncrBy([]byte("i"), 3); err != nil || n != 10 {
			t.Errorf("tx.IncrBy = %d, %v", n, err)
		}
		if n, err := tx.Incr([]byte("c")); err != nil || n != 1 {
			t.Errorf("tx.Incr = %d, %v", n, err)
		}
		// The transaction reads its own writes; the database does not see them yet.
		if v, err := tx.Get([]byte("k")); err != nil || string(v) != "new" {
			t.Errorf("tx.Get after tx.Set = %q, %v", v, err)
		}
		if v, err := tx.GetValue([]byte("s")); err != nil || v.Type != TypeString || v.AsString() != "ziggy ✓" {
			t.Errorf("tx.GetValue = %v, %v", v, err)
		}
		if v, err := db.Get([]byte("k")); err != nil || string(v) != "old" {
			t.Errorf("db.Get inside the transaction = %q, %v; want the committed value", v, err)
		}
		must(t, tx.Delete([]byte("k")))
		if err := tx.Delete([]byte("k")); !errors.Is(err, ErrNotFound) {
			t.Errorf("second tx.Delete: %v", err)
		}
		if _, err := tx.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
			t.Errorf("tx.Get after tx.Delete: %v", err)
		}
		return nil
	})
	must(t, err)
	if _, err := db.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("k after commit: %v", err)
	}
	for key, want := range map[string]string{"i": "int(10)", "s": `string("ziggy ✓")`, "f": "float(2.5)",
		"b": "bool(true)", "t": "timestamp(2026-01-01T00:00:00.123Z)", "j": "json([1,2])", "c": "int(1)"} {
		v, err := db.GetValue([]byte(key))
		if err != nil || v.String() != want {
			t.Errorf("%s after commit = %v, %v; want %s", key, v, err, want)
		}
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	db := openTemp(t)
	must(t, db.Set([]byte("k"), []byte("old")))
	boom := errors.New("boom")
	var kept *Tx
	err := db.Update(func(tx *Tx) error {
		kept = tx
		must(t, tx.Set([]byte("k"), []byte("new")))
		must(t, tx.Set([]byte("other"), []byte("x")))
		return boom
	})
	if err != boom {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	if v, _ := db.Get([]byte("k")); string(v) != "old" {
		t.Fatalf("k after rollback = %q", v)
	}
	if _, err := db.Get([]byte("other")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other after rollback: %v", err)
	}
	// The Tx is done once Update returned.
	if err := kept.Set([]byte("k"), []byte("late")); !errors.Is(err, ErrTxDone) {
		t.Fatalf("Set on a finished Tx: %v", err)
	}
	if _, err := kept.Get([]byte("k")); !errors.Is(err, ErrTxDone) {
		t.Fatalf("Get on a finished Tx: %v", err)
	}
	// And the writer lock is free again.
	must(t, db.Set([]byte("k"), []byte("after")))
}

func TestUpdateRollsBackOnPanic(t *testing.T) {
	db := openTemp(t)
	must(t, db.Set([]byte("k"), []byte("old")))
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the panic to go on", r)
			}
		}()
		_ = db.Update(func(tx *Tx) error {
			must(t, tx.Set([]byte("k"), []byte("new")))
			panic("boom")
		})
		t.Fatal("Update returned after a panic")
	}()
	if v, _ := db.Get([]byte("k")); string(v) != "old" {
		t.Fatalf("k after a panic = %q", v)
	}
	must(t, db.Set([]byte("k"), []byte("after")))
}

func TestWriteThroughDBInsideUpdateIsBusy(t *testing.T) {
	db, err := Open(t.TempDir(), &Options{LockTimeout: 200 * time.Millisecond})
	must(t, err)
	defer db.Close()
	err = db.Update(func(tx *Tx) error {
		if err := db.Set([]byte("k"), []byte("v")); !errors.Is(err, ErrBusy) {
			t.Errorf("db.Set inside Update: %v, want ErrBusy", err)
		}
		inner := db.Update(func(*Tx) error {
			t.Error("a nested Update ran")
			return nil
		})
		if !errors.Is(inner, ErrBusy) {
			t.Errorf("nested Update: %v, want ErrBusy", inner)
		}
		return tx.Set([]byte("k"), []byte("tx"))
	})
	must(t, err)
	if v, _ := db.Get([]byte("k")); string(v) != "tx" {
		t.Fatalf("k = %q", v)
	}
}

// A transaction used from many OS threads: each call from a goroutine wired to a thread of
// its own (a goroutine that exits while locked takes its thread with it, so each is new),
// while Update's goroutine stays on another.
func TestTxAcrossOSThreads(t *testing.T) {
	db := openTemp(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	home := syscall.Gettid()
	tids := map[int]bool{}
	const moves = 20
	err := db.Update(func(tx *Tx) error {
		must(t, tx.Set([]byte("home"), []byte(strconv.Itoa(home))))
		for i := 0; i < moves; i++ {
			type result struct {
				tid int
				err error
			}
			done := make(chan result)
			go func(i int) {
				runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
				tid := syscall.Gettid()
				if _, err := tx.Incr([]byte("n")); err != nil {
					done <- result{tid, err}
					return
				}
				_, err := tx.Do("RPUSH", "threads", tid)
				done <- result{tid, err}
			}(i)
			r := <-done
			if r.err != nil {
				return r.err
			}
			tids[r.tid] = true
		}
		// Back on the first thread: the transaction sees every thread's writes.
		if v, err := tx.Get([]byte("n")); err != nil || string(v) != strconv.Itoa(moves) {
			t.Errorf("n inside the transaction = %q, %v", v, err)
		}
		if n, err := tx.Do("LLEN", "threads"); err != nil || n != int64(moves) {
			t.Errorf("LLEN inside the transaction = %v, %v", n, err)
		}
		return nil
	})
	must(t, err)
	if tids[home] || len(tids) < 2 {
		t.Fatalf("the calls ran on threads %v, Update on %d: no move", tids, home)
	}
	if n, err := db.GetInt([]byte("n")); err != nil || n != moves {
		t.Fatalf("n after commit = %d, %v", n, err)
	}
	// The writer lock was released: another goroutine on another thread writes at once.
	done := make(chan error)
	go func() { done <- db.Set([]byte("after"), []byte("x")) }()
	must(t, <-done)
}

// Transactions from many goroutines serialise: a read-modify-write of one key in each
// loses no update.
func TestUpdatesFromGoroutinesSerialise(t *testing.T) {
	db := openTemp(t)
	const goroutines, rounds = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				err := db.Update(func(tx *Tx) error {
					n := 0
					v, err := tx.Get([]byte("rmw"))
					if err == nil {
						n, _ = strconv.Atoi(string(v))
					} else if !errors.Is(err, ErrNotFound) {
						return err
					}
					runtime.Gosched()
					return tx.Set([]byte("rmw"), []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, err := db.GetInt([]byte("rmw")); err != nil || n != goroutines*rounds {
		t.Fatalf("rmw = %d, %v; want %d", n, err, goroutines*rounds)
	}
}

func TestTxDo(t *testing.T) {
	db := openTemp(t)
	err := db.Update(func(tx *Tx) error {
		if n, err := tx.Do("RPUSH", "list", "a", []byte("b\x00")); err != nil || n != int64(2) {
			t.Errorf("tx RPUSH = %v, %v", n, err)
		}
		// Its reads see its writes, through Do and through the typed calls alike.
		must(t, tx.Set([]byte("k"), []byte("v")))
		if v, err := tx.Do("GET", "k"); err != nil || string(v.([]byte)) != "v" {
			t.Errorf("tx GET = %v, %v", v, err)
		}
		if v, err := tx.Do("LRANGE", "list", 0, -1); err != nil ||
			!reflect.DeepEqual(v, []any{[]byte("a"), []byte("b\x00")}) {
			t.Errorf("tx LRANGE = %#v, %v", v, err)
		}
		// A failed command is an error reply and leaves the transaction as it was.
		if _, err := tx.Do("INCR", "list"); !errors.Is(err, ErrWrongType) {
			t.Errorf("tx INCR of a list: %v", err)
		}
		var rerr *ReplyError
		if _, err := tx.Do("MULTI"); !errors.As(err, &rerr) {
			t.Errorf("tx MULTI: %#v", err)
		}
		_, err := tx.Do("HSET", "h", "f", 1)
		return err
	})
	must(t, err)
	if v, err := db.Do("LRANGE", "list", 0, -1); err != nil || !reflect.DeepEqual(v, []any{[]byte("a"), []byte("b\x00")}) {
		t.Fatalf("list after commit = %#v, %v", v, err)
	}
	if v, err := db.Do("HGET", "h", "f"); err != nil || string(v.([]byte)) != "1" {
		t.Fatalf("h after commit = %#v, %v", v, err)
	}
	// Rolled back: nothing of the transaction's commands stays.
	boom := errors.New("boom")
	err = db.Update(func(tx *Tx) error {
		if _, err := tx.Do("RPUSH", "list", "c"); err != nil {
			return err
		}
		if _, err := tx.Do("DEL", "h"); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("Update = %v", err)
	}
	if n, err := db.Do("LLEN", "list"); err != nil || n != int64(2) {
		t.Fatalf("LLEN after rollback = %v, %v", n, err)
	}
	if n, err := db.Do("EXISTS", "h"); err != nil || n != int64(1) {
		t.Fatalf("h after rollback: %v, %v", n, err)
	}
}
