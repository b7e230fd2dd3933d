package ziggydb

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSetGetDelete(t *testing.T) {
	db := openTemp(t)
	must(t, db.Set([]byte("greeting"), []byte("hello")))
	v, err := db.Get([]byte("greeting"))
	must(t, err)
	if string(v) != "hello" {
		t.Fatalf("Get = %q, want hello", v)
	}
	must(t, db.Set([]byte("greeting"), []byte("bye")))
	if v, _ := db.Get([]byte("greeting")); string(v) != "bye" {
		t.Fatalf("Get after overwrite = %q", v)
	}
	must(t, db.Delete([]byte("greeting")))
	if _, err := db.Get([]byte("greeting")); err != ErrNotFound || !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := db.Delete([]byte("greeting")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	if _, err := db.Get([]byte("never")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
}

func TestBinaryKeysAndValues(t *testing.T) {
	db := openTemp(t)
	keys := [][]byte{[]byte("a"), []byte("a\x00"), []byte("a\x00b"), []byte("a\x00c"), {0}, {0, 0}, {0xff, 0x00, 0xfe}}
	for i, k := range keys {
		must(t, db.Set(k, []byte{byte(i), 0, 'v', 0xff, 0}))
	}
	for i, k := range keys {
		v, err := db.Get(k)
		must(t, err)
		if want := []byte{byte(i), 0, 'v', 0xff, 0}; !bytes.Equal(v, want) {
			t.Fatalf("key %q = %q, want %q", k, v, want)
		}
	}
	// An empty value is a value, not a missing key.
	must(t, db.Set([]byte("empty"), nil))
	v, err := db.Get([]byte("empty"))
	if err != nil || len(v) != 0 {
		t.Fatalf("empty value: %q, %v", v, err)
	}
	// Values larger than the buffer a read copies into in the same call.
	for _, n := range []int{getBuf - 1, getBuf, getBuf + 1, 1 << 20} {
		big := bytes.Repeat([]byte{'x', 0}, n/2+1)[:n]
		big[n-1] = 0xee
		must(t, db.Set([]byte("big"), big))
		got, err := db.Get([]byte("big"))
		must(t, err)
		if !bytes.Equal(got, big) {
			t.Fatalf("value of %d bytes read back as %d bytes", n, len(got))
		}
	}
	// What Get returns is the caller's: changing it changes nothing stored.
	got, _ := db.Get([]byte("a"))
	got[0] = 99
	if again, _ := db.Get([]byte("a")); again[0] != 0 {
		t.Fatalf("a returned value aliases the database: %q", again)
	}
}

func TestTypedValues(t *testing.T) {
	db := openTemp(t)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 123_000_000, time.UTC)
	long := strings.Repeat("ziggy ✓ ", 40)
	doc := []byte(`{"lang":"go","list":[1,2.5,null,true,"x"]}`)
	must(t, db.SetInt([]byte("int"), -9007199254740993))
	must(t, db.SetInt([]byte("min"), math.MinInt64))
	must(t, db.SetFloat([]byte("float"), 0.1))
	must(t, db.SetBool([]byte("true"), true))
	must(t, db.SetBool([]byte("false"), false))
	must(t, db.SetTime([]byte("time"), ts))
	must(t, db.SetJSON([]byte("json"), doc))
	must(t, db.SetValue([]byte("bytes"), Bytes([]byte("zig\x00gy\xff"))))
	must(t, db.SetString([]byte("string"), "ziggy ✓ go"))
	must(t, db.SetString([]byte("long"), long))
	must(t, db.Set([]byte("plain"), []byte("raw")))

	check := func(key string, typ Type, test func(v Value) bool) {
		t.Helper()
		v, err := db.GetValue([]byte(key))
		must(t, err)
		if v.Type != typ || !test(v) {
			t.Fatalf("%s read back as %v, want a %v", key, v, typ)
		}
		if got, err := db.Type([]byte(key)); err != nil || got != typ {
			t.Fatalf("Type(%s) = %v, %v; want %v", key, got, err, typ)
		}
	}
	check("int", TypeInt, func(v Value) bool { return v.Int == -9007199254740993 && v.Any() == int64(-9007199254740993) })
	check("min", TypeInt, func(v Value) bool { return v.Int == math.MinInt64 })
	check("float", TypeFloat, func(v Value) bool { return math.Float64bits(v.Float) == math.Float64bits(0.1) && v.Any() == 0.1 })
	check("true", TypeBool, func(v Value) bool { return v.AsBool() && v.Any() == true })
	check("false", TypeBool, func(v Value) bool { return !v.AsBool() && v.Any() == false })
	check("time", TypeTimestamp, func(v Value) bool {
		return v.Int == 1767225600123 && v.AsTime().Equal(ts) && v.AsTime().Location() == time.UTC
	})
	check("json", TypeJSON, func(v Value) bool {
		var m map[string]any
		return v.Decode(&m) == nil && m["lang"] == "go" && len(m["list"].([]any)) == 5
	})
	check("bytes", TypeBytes, func(v Value) bool { return bytes.Equal(v.Data, []byte("zig\x00gy\xff")) })
	check("string", TypeString, func(v Value) bool { return v.AsString() == "ziggy ✓ go" && v.Any() == "ziggy ✓ go" })
	check("long", TypeString, func(v Value) bool { return v.AsString() == long })
	check("plain", TypeBytes, func(v Value) bool { return string(v.Data) == "raw" })

	if typ, err := db.Type([]byte("missing")); err != nil || typ != TypeNone {
		t.Fatalf("Type of a missing key = %v, %v", typ, err)
	}
	if _, err := db.GetValue([]byte("missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetValue of a missing key: %v", err)
	}
	// GetInt and GetFloat read numbers stored as numbers or as text.
	must(t, db.Set([]byte("text42"), []byte("42")))
	for key, want := range map[string]int64{"int": -9007199254740993, "text42": 42} {
		if n, err := db.GetInt([]byte(key)); err != nil || n != want {
			t.Fatalf("GetInt(%s) = %d, %v; want %d", key, n, err, want)
		}
	}
	if f, err := db.GetFloat([]byte("float")); err != nil || f != 0.1 {
		t.Fatalf("GetFloat = %v, %v", f, err)
	}
	if _, err := db.GetInt([]byte("string")); !errors.Is(err, ErrNotAnInteger) {
		t.Fatalf("GetInt of a string: %v, want ErrNotAnInteger", err)
	}
	if _, err := db.GetFloat([]byte("string")); !errors.Is(err, ErrNotAFloat) {
		t.Fatalf("GetFloat of a string: %v, want ErrNotAFloat", err)
	}
	// Bad values are refused with the library's error, and nothing is written.
	if err := db.SetJSON([]byte("bad"), []byte("{nope")); !errors.Is(err, ErrInvalidJSON) ||
		!strings.Contains(err.Error(), "JSON") {
		t.Fatalf("invalid JSON: %v", err)
	}
	if err := db.SetValue([]byte("bad"), Value{Type: TypeString, Data: []byte{0xff, 0xfe}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a string that is not UTF-8: %v", err)
	}
	if err := db.SetValue([]byte("bad"), Value{Type: Type(99)}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("an unknown type: %v", err)
	}
	if _, err := db.Get([]byte("bad")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused value was written: %v", err)
	}
	// JSONOf marshals.
	jv, err := JSONOf(map[string]int{"a": 1})
	must(t, err)
	must(t, db.SetValue([]byte("j2"), jv))
	if v, _ := db.GetValue([]byte("j2")); string(v.AsJSON()) != `{"a":1}` || v.Type != TypeJSON {
		t.Fatalf("JSONOf read back as %v", v)
	}
}

func TestIncr(t *testing.T) {
	db := openTemp(t)
	for i := int64(1); i <= 5; i++ {
		n, err := db.Incr([]byte("n"))
		if err != nil || n != i {
			t.Fatalf("Incr #%d = %d, %v", i, n, err)
		}
	}
	if n, err := db.IncrBy([]byte("n"), -15); err != nil || n != -10 {
		t.Fatalf("IncrBy -15 = %d, %v", n, err)
	}
	if v, _ := db.Get([]byte("n")); string(v) != "-10" {
		t.Fatalf("Get of a counter = %q, want its decimal text", v)
	}
	must(t, db.SetInt([]byte("max"), math.MaxInt64))
	if _, err := db.Incr([]byte("max")); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Incr past MaxInt64: %v, want ErrOverflow", err)
	}
	must(t, db.Set([]byte("word"), []byte("abc")))
	_, err := db.Incr([]byte("word"))
	var zerr *Error
	if !errors.Is(err, ErrNotAnInteger) || !errors.As(err, &zerr) || zerr.Code != 101 ||
		zerr.Name != "NOT_AN_INTEGER" || zerr.Msg == "" {
		t.Fatalf("Incr of a word: %#v", err)
	}
	if errors.Is(err, ErrOverflow) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("%v matches another code", err)
	}
}

func TestErrorCodesMatchTheLibrary(t *testing.T) {
	// Every code the library names has its value here, with the library's name.
	for c := 1; c < 1000; c++ {
		name := errName(c)
		e, ok := codes[c]
		if name == "UNKNOWN" {
			if ok {
				t.Errorf("code %d (%s) is not the library's", c, e.Name)
			}
			continue
		}
		if !ok {
			t.Errorf("the library's code %d (%s) has no Err value", c, name)
		} else if e.Name != name {
			t.Errorf("code %d is %s here, %s in the library", c, e.Name, name)
		}
	}
	for c := 20; c <= 27; c++ {
		if !errors.Is(&Error{Code: c}, ErrCorrupt) {
			t.Errorf("code %d is not ErrCorrupt", c)
		}
	}
	for _, c := range []int{12, 28, 29, 100} {
		if errors.Is(&Error{Code: c}, ErrCorrupt) {
			t.Errorf("code %d matches ErrCorrupt", c)
		}
	}
	if ErrBusy.Error() != "ziggydb: BUSY" {
		t.Errorf("ErrBusy.Error() = %q", ErrBusy.Error())
	}
	if v := Version(); !strings.Contains(v, ".") {
		t.Errorf("Version() = %q", v)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	must(t, os.WriteFile(file, []byte("x"), 0o600))
	if _, err := Open(file, nil); !errors.Is(err, ErrNotADirectory) || !strings.Contains(err.Error(), file) {
		t.Fatalf("Open of a file: %v", err)
	}
	other := filepath.Join(dir, "other")
	must(t, os.MkdirAll(other, 0o700))
	must(t, os.WriteFile(filepath.Join(other, "notes.txt"), []byte("x"), 0o600))
	if _, err := Open(other, nil); !errors.Is(err, ErrNotADatabase) {
		t.Fatalf("Open of a directory of other files: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing"), &Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only Open of a missing database succeeded")
	}
	path := filepath.Join(dir, "db")
	db, err := Open(path, &Options{Durability: Batched, LockTimeout: 2 * time.Second, NoAutoCompact: true, ExpiryInterval: -1})
	must(t, err)
	if db.Path() != path {
		t.Fatalf("Path() = %q", db.Path())
	}
	// A second open in this process must ask for the same options.
	if _, err := Open(path, nil); !errors.Is(err, ErrOptionsMismatch) {
		t.Fatalf("Open with other options: %v, want ErrOptionsMismatch", err)
	}
	must(t, db.Set([]byte("k"), []byte("v")))
	must(t, db.Sync())
	must(t, db.Close())
	must(t, db.Close()) // a second Close does nothing
	if _, err := db.Get([]byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := db.Update(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Update after Close: %v", err)
	}
	if _, err := db.Do("PING"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}

	ro, err := Open(path, &Options{ReadOnly: true})
	must(t, err)
	defer ro.Close()
	if v, err := ro.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("read-only Get = %q, %v", v, err)
	}
	if err := ro.Set([]byte("k"), []byte("w")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write on a read-only handle: %v", err)
	}
}
