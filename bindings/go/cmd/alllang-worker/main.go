// Command alllang-worker is the Go side of the all-languages test: every language's worker
// opens one database directory at the same moment, writes typed values, increments a shared
// counter, appends to a shared list in transactions, waits for its peers and reads back
// every peer's typed values.
//
//	alllang-worker DIR NAME PEERS
//
// prints "NAME ok" and exits 0 when everything checked out, or one line per problem on
// stderr and exits 1.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"time"

	"ziggydb.dev/ziggydb"
)

const (
	intValue   = -9007199254740993
	floatValue = 0.1
	tsMillis   = 1767225600123
)

var bytesValue = []byte{0x7a, 0x69, 0x67, 0x00, 0x67, 0x79, 0xff}

func jsonDoc(name string) string {
	return `{"lang":"` + name + `","list":[1,2.5,null,true,"x"]}`
}

func stringValue(name string) string { return "ziggy ✓ " + name }

func key(name, kind string) []byte { return []byte("typed:" + name + ":" + kind) }

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: alllang-worker DIR NAME PEERS")
		os.Exit(2)
	}
	dir, name, peers := os.Args[1], os.Args[2], strings.Split(os.Args[3], ",")
	problems := run(dir, name, peers)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, p)
		}
		os.Exit(1)
	}
	fmt.Println(name + " ok")
}

func run(dir, name string, peers []string) (problems []string) {
	fail := func(format string, args ...any) []string {
		return append(problems, fmt.Sprintf(name+": "+format, args...))
	}
	// 1. Open with default options.
	db, err := ziggydb.Open(dir, nil)
	if err != nil {
		return fail("open %s: %v", dir, err)
	}
	defer db.Close()

	// 2. The typed values, each its own commit.
	writes := []struct {
		kind string
		set  func() error
	}{
		{"int", func() error { return db.SetInt(key(name, "int"), intValue) }},
		{"float", func() error { return db.SetFloat(key(name, "float"), floatValue) }},
		{"bool", func() error { return db.SetBool(key(name, "bool"), true) }},
		{"timestamp", func() error { return db.SetTime(key(name, "timestamp"), time.UnixMilli(tsMillis)) }},
		{"json", func() error { return db.SetJSON(key(name, "json"), []byte(jsonDoc(name))) }},
		{"bytes", func() error { return db.Set(key(name, "bytes"), bytesValue) }},
		{"string", func() error { return db.SetString(key(name, "string"), stringValue(name)) }},
	}
	for _, w := range writes {
		if err := w.set(); err != nil {
			return fail("write %s: %v", w.kind, err)
		}
	}

	// 3, 4. The counters.
	if _, err := db.Incr([]byte("all:ready")); err != nil {
		return fail("incr all:ready: %v", err)
	}
	for i := 0; i < 500; i++ {
		if _, err := db.Incr([]byte("all:counter")); err != nil {
			return fail("incr all:counter #%d: %v", i, err)
		}
	}

	// 5. The list, one transaction per entry.
	for i := 0; i < 100; i++ {
		err := db.Update(func(tx *ziggydb.Tx) error {
			_, err := tx.Do("RPUSH", "all:list", fmt.Sprintf("%s:%d", name, i))
			return err
		})
		if err != nil {
			return fail("transaction %d: %v", i, err)
		}
	}

	// 6. Done; wait for every peer.
	if _, err := db.Incr([]byte("all:done")); err != nil {
		return fail("incr all:done: %v", err)
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		done, err := db.GetInt([]byte("all:done"))
		if err != nil {
			return fail("get all:done: %v", err)
		}
		if done >= int64(len(peers)) {
			break
		}
		if time.Now().After(deadline) {
			return fail("timed out waiting for peers")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// 7. Every peer's typed values.
	for _, p := range peers {
		problems = append(problems, checkPeer(db, name, p)...)
	}
	return problems
}

func checkPeer(db *ziggydb.DB, name, p string) (problems []string) {
	bad := func(kind, want string, got any) {
		problems = append(problems, fmt.Sprintf("%s: peer %s %s: expected %s, read %v", name, p, kind, want, got))
	}
	read := func(kind string, typ ziggydb.Type) (ziggydb.Value, bool) {
		v, err := db.GetValue(key(p, kind))
		if err != nil {
			bad(kind, "a "+typ.String(), err)
			return v, false
		}
		if v.Type != typ {
			bad(kind, "a "+typ.String(), v)
			return v, false
		}
		return v, true
	}
	if v, ok := read("int", ziggydb.TypeInt); ok && v.Int != intValue {
		bad("int", fmt.Sprint(intValue), v)
	}
	if v, ok := read("float", ziggydb.TypeFloat); ok && math.Float64bits(v.Float) != math.Float64bits(floatValue) {
		bad("float", "0.1 bit-exactly", fmt.Sprintf("%v (bits %x)", v.Float, math.Float64bits(v.Float)))
	}
	if v, ok := read("bool", ziggydb.TypeBool); ok && !v.AsBool() {
		bad("bool", "true", v)
	}
	if v, ok := read("timestamp", ziggydb.TypeTimestamp); ok && !v.AsTime().Equal(time.UnixMilli(tsMillis)) {
		bad("timestamp", time.UnixMilli(tsMillis).UTC().Format(time.RFC3339Nano), v)
	}
	if v, ok := read("json", ziggydb.TypeJSON); ok {
		var got, want any
		if err := json.Unmarshal(v.Data, &got); err != nil {
			bad("json", jsonDoc(p), fmt.Sprintf("%s (%v)", v.Data, err))
		} else if _ = json.Unmarshal([]byte(jsonDoc(p)), &want); !reflect.DeepEqual(got, want) {
			bad("json", jsonDoc(p), string(v.Data))
		}
	}
	if v, ok := read("bytes", ziggydb.TypeBytes); ok && !bytes.Equal(v.Data, bytesValue) {
		bad("bytes", fmt.Sprintf("%q", bytesValue), fmt.Sprintf("%q", v.Data))
	}
	if v, ok := read("string", ziggydb.TypeString); ok && v.AsString() != stringValue(p) {
		bad("string", fmt.Sprintf("%q", stringValue(p)), fmt.Sprintf("%q", v.AsString()))
	}
	return problems
}
