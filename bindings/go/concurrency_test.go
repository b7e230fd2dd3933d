package ziggydb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The test binary is also the worker the multi-process tests start:
// ZIGGYDB_GO_TEST_WORKER=incr with ZIGGYDB_GO_TEST_DIR and ZIGGYDB_GO_TEST_N.
func TestMain(m *testing.M) {
	if os.Getenv("ZIGGYDB_GO_TEST_WORKER") == "incr" {
		os.Exit(incrWorker(os.Getenv("ZIGGYDB_GO_TEST_DIR"), os.Getenv("ZIGGYDB_GO_TEST_N")))
	}
	if os.Getenv("ZIGGYDB_GO_TEST_WORKER") == "do" {
		os.Exit(doWorker(os.Getenv("ZIGGYDB_GO_TEST_DIR"), os.Getenv("ZIGGYDB_GO_TEST_ARGS")))
	}
	code := m.Run()
	benchCleanup()
	os.Exit(code)
}

func incrWorker(dir, nText string) int {
	n, err := strconv.Atoi(nText)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad N:", err)
		return 2
	}
	db, err := Open(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	defer db.Close()
	for i := 0; i < n; i++ {
		// Half through Incr, half through Do and Update: every path is atomic.
		switch i % 3 {
		case 0:
			_, err = db.Incr([]byte("counter"))
		case 1:
			_, err = db.Do("INCR", "counter")
		default:
			err = db.Update(func(tx *Tx) error {
				_, err := tx.Incr([]byte("counter"))
				return err
			})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "incr:", err)
			return 1
		}
	}
	return 0
}

// Several processes of this test binary increment one counter; the total is exact.
func TestProcessesIncrExact(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir, nil)
	must(t, err)
	defer db.Close()
	must(t, db.SetInt([]byte("counter"), 1000))
	const procs, n = 4, 300
	exe, err := os.Executable()
	must(t, err)
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for p := 0; p < procs; p++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "ZIGGYDB_GO_TEST_WORKER=incr", "ZIGGYDB_GO_TEST_DIR="+dir,
			"ZIGGYDB_GO_TEST_N="+strconv.Itoa(n))
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		must(t, cmd.Start())
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	// This process increments too, meanwhile.
	for i := 0; i < n; i++ {
		if _, err := db.Incr([]byte("counter")); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v: %s", i, err, outs[i])
		}
	}
	got, err := db.GetInt([]byte("counter"))
	must(t, err)
	if want := int64(1000 + (procs+1)*n); got != want {
		t.Fatalf("counter = %d after %d processes x %d increments, want %d", got, procs+1, n, want)
	}
}

// 32 goroutines share one *DB: their own keys read back as written, a shared counter is
// exact, and every failure carries its own message even though many fail at once on
// threads the goroutines share.
func TestGoroutinesShareDB(t *testing.T) {
	db := openTemp(t)
	must(t, db.Set([]byte("word"), []byte("abc")))
	if _, err := db.Do("RPUSH", "list", "x"); err != nil {
		t.Fatal(err)
	}
	const goroutines, rounds = 32, 100
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			fail := func(format string, args ...any) {
				errs <- fmt.Errorf("goroutine %d: "+format, append([]any{g}, args...)...)
			}
			for i := 0; i < rounds; i++ {
				key := []byte(fmt.Sprintf("g%d\x00k%d", g, i%10))
				val := []byte(fmt.Sprintf("v%d-%d\x00", g, i))
				if err := db.Set(key, val); err != nil {
					fail("Set: %v", err)
					return
				}
				if got, err := db.Get(key); err != nil || !bytes.Equal(got, val) {
					fail("Get = %q, %v; want %q", got, err, val)
					return
				}
				if _, err := db.Incr([]byte("shared")); err != nil {
					fail("Incr: %v", err)
					return
				}
				// Failures of different kinds at once: each error has its own message.
				switch g % 3 {
				case 0:
					_, err := db.Incr([]byte("word"))
					var zerr *Error
					if !errors.As(err, &zerr) || zerr.Code != ErrNotAnInteger.Code || !strings.Contains(zerr.Msg, "not an integer") {
						fail("Incr of a word: %#v", err)
						return
					}
				case 1:
					err := db.SetJSON([]byte("j"), []byte("{bad"))
					var zerr *Error
					if !errors.As(err, &zerr) || zerr.Code != ErrInvalidJSON.Code || !strings.Contains(zerr.Msg, "JSON") {
						fail("invalid JSON: %#v", err)
						return
					}
				default:
					_, err := db.Get([]byte("list"))
					var zerr *Error
					if !errors.As(err, &zerr) || zerr.Code != ErrWrongType.Code || strings.Contains(zerr.Msg, "JSON") ||
						strings.Contains(zerr.Msg, "integer") {
						fail("Get of a list: %#v", err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := db.GetInt([]byte("shared")); err != nil || n != goroutines*rounds {
		t.Fatalf("shared = %d, %v; want %d", n, err, goroutines*rounds)
	}
}

// Close waits for calls in progress and makes later ones fail with ErrClosed, while
// goroutines keep calling.
func TestCloseWhileInUse(t *testing.T) {
	db, err := Open(t.TempDir(), nil)
	must(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := db.Incr([]byte("n"))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for {
		if n, _ := db.GetInt([]byte("n")); n >= 50 {
			break
		}
	}
	must(t, db.Close())
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Every path that makes the library or the helpers allocate frees it: values beyond the
// in-call buffer, typed reads, error messages, replies flattened into malloc'd memory, and
// transactions. 5,000 rounds of them leave the C heap within 128 KiB of where it was (a leak
// of any one, even a 40-byte error message, would grow it by 5,000 times its size).
func TestNoCLeaks(t *testing.T) {
	db, err := Open(t.TempDir(), &Options{ExpiryInterval: -1, NoAutoCompact: true, Durability: Batched})
	must(t, err)
	defer db.Close()
	big := bytes.Repeat([]byte("x"), 4096)
	must(t, db.Set([]byte("big"), big))
	must(t, db.SetString([]byte("str"), string(big)))
	must(t, db.Set([]byte("word"), []byte("abc")))
	items := []any{"RPUSH", "list"}
	for i := 0; i < 200; i++ {
		items = append(items, fmt.Sprintf("item-%04d", i))
	}
	_, err = db.Do(items...)
	must(t, err)
	round := func() {
		if v, err := db.Get([]byte("big")); err != nil || len(v) != len(big) {
			t.Fatalf("Get: %d, %v", len(v), err)
		}
		if v, err := db.GetValue([]byte("str")); err != nil || len(v.Data) != len(big) {
			t.Fatalf("GetValue: %v", err)
		}
		if _, err := db.Incr([]byte("word")); err == nil {
			t.Fatal("Incr of a word succeeded")
		}
		if r, err := db.Do("LRANGE", "list", 0, -1); err != nil || len(r.([]any)) != 200 {
			t.Fatalf("LRANGE: %v", err)
		}
		if _, err := db.Do("GET", "list"); err == nil {
			t.Fatal("GET of a list succeeded")
		}
		must(t, db.Update(func(tx *Tx) error {
			_, err := tx.Do("LINDEX", "list", 0)
			return err
		}))
	}
	for i := 0; i < 200; i++ { // warm up the allocators' caches
		round()
	}
	before := cHeapInUse()
	for i := 0; i < 5000; i++ {
		round()
	}
	after := cHeapInUse()
	if after > before+128<<10 {
		t.Fatalf("the C heap grew from %d to %d bytes over 5,000 rounds", before, after)
	}
}
