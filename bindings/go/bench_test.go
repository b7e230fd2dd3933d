package ziggydb

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The benchmarks measure the binding's cost per call on a database set up as the C ABI's
// bench (crates/ziggydb-c/benches/capi.rs) sets up its own: 100-byte values under keys of
// the same shape, batched commits (no fsync per call), no background expiry or compaction.
// bench.sh runs both and prints the ratios. ZIGGYDB_BENCH_KEYS sets the number of keys
// (default 20,000).

var bench struct {
	once sync.Once
	dir  string
	db   *DB
	keys [][]byte
	err  error
}

func benchKey(i uint64) []byte {
	return []byte(fmt.Sprintf("key-%016x", i*0x9e3779b97f4a7c15))
}

func benchDB(b *testing.B) (*DB, [][]byte) {
	bench.once.Do(func() {
		n := 20_000
		if s := os.Getenv("ZIGGYDB_BENCH_KEYS"); s != "" {
			if n, bench.err = strconv.Atoi(s); bench.err != nil {
				return
			}
		}
		if bench.dir, bench.err = os.MkdirTemp("", "ziggydb-go-bench"); bench.err != nil {
			return
		}
		bench.db, bench.err = Open(filepath.Join(bench.dir, "db"), &Options{
			Durability: Batched, BatchDelay: 100 * time.Millisecond, ExpiryInterval: -1, NoAutoCompact: true,
		})
		if bench.err != nil {
			return
		}
		value := make([]byte, 100)
		for i := range value {
			value[i] = 'v'
		}
		for i := 0; i < n; i++ {
			bench.keys = append(bench.keys, benchKey(uint64(i)))
		}
		for start := 0; start < n && bench.err == nil; start += 1000 {
			bench.err = bench.db.Update(func(tx *Tx) error {
				for _, k := range bench.keys[start:min(start+1000, n)] {
					if err := tx.Set(k, value); err != nil {
						return err
					}
				}
				return nil
			})
		}
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.db, bench.keys
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// benchCleanup removes the benchmarks' database (TestMain calls it).
func benchCleanup() {
	if bench.db != nil {
		bench.db.Close()
	}
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
}

func BenchmarkGet(b *testing.B) {
	db, keys := benchDB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := db.Get(keys[i%len(keys)])
		if err != nil || len(v) != 100 {
			b.Fatal(len(v), err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	db, keys := benchDB(b)
	value := make([]byte, 100)
	for i := range value {
		value[i] = 'v'
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.Set(keys[i%len(keys)], value); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIncr(b *testing.B) {
	db, _ := benchDB(b)
	key := []byte("counter")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Incr(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDoIncr(b *testing.B) {
	db, _ := benchDB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Do("INCR", "counter"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDoGet(b *testing.B) {
	db, keys := benchDB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Do("GET", keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
	}
}

// Get from 8 goroutines at once (b.RunParallel): the cost per call when goroutines share
// the *DB.
func BenchmarkGetParallel(b *testing.B) {
	db, keys := benchDB(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := db.Get(keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
