package ziggydb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDoReplies(t *testing.T) {
	db := openTemp(t)
	type step struct {
		args []any
		want any
	}
	for _, s := range []step{
		{[]any{"SET", "k", "v"}, "OK"},                              // status: string
		{[]any{"GET", "k"}, []byte("v")},                            // bulk: []byte
		{[]any{"GET", "missing"}, nil},                              // nil
		{[]any{"INCR", "n"}, int64(1)},                              // integer
		{[]any{"INCRBY", "n", int64(-5)}, int64(-4)},                // an int64 argument
		{[]any{"SET", []byte("b\x00in"), []byte{0, 1, 0xff}}, "OK"}, // binary arguments
		{[]any{"GET", []byte("b\x00in")}, []byte{0, 1, 0xff}},       // binary reply
		{[]any{"GET", []byte("b")}, nil},                            // the key is all its bytes
		{[]any{"RPUSH", "l", 7, uint8(8), 2.5, float32(0.5), true, false}, int64(6)},
		{[]any{"LRANGE", "l", 0, -1}, []any{[]byte("7"), []byte("8"), []byte("2.5"), []byte("0.5"), []byte("1"), []byte("0")}},
		{[]any{"LRANGE", "missing", 0, -1}, []any{}}, // empty array
		{[]any{"TYPE", "l"}, "list"},                 // status
		{[]any{"EXISTS", "k", "l", "missing"}, int64(2)},
		{[]any{"HSET", "h", "f", "v"}, int64(1)},
		{[]any{"HGETALL", "h"}, []any{[]byte("f"), []byte("v")}},
		{[]any{"set", "lower", "case"}, "OK"}, // command names in any case
		{[]any{"DEL", "k", "lower"}, int64(2)},
	} {
		got, err := db.Do(s.args...)
		if err != nil {
			t.Fatalf("Do%v: %v", s.args, err)
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("Do%v = %#v, want %#v", s.args, got, s.want)
		}
	}
	// A map reply (HELLO 3 answers with one).
	got, err := db.Do("HELLO", 3)
	must(t, err)
	m, ok := got.(map[string]any)
	if !ok || m["proto"] != int64(3) || !bytes.Equal(m["server"].([]byte), []byte("ziggydb")) {
		t.Fatalf("HELLO 3 = %#v", got)
	}
	// A reply bigger than the buffer it is flattened into within the call.
	items := make([]any, 0, 2002)
	items = append(items, "RPUSH", "big")
	for i := 0; i < 2000; i++ {
		items = append(items, fmt.Sprintf("item-%04d", i))
	}
	if n, err := db.Do(items...); err != nil || n != int64(2000) {
		t.Fatalf("RPUSH of 2000: %v, %v", n, err)
	}
	got, err = db.Do("LRANGE", "big", 0, -1)
	must(t, err)
	list := got.([]any)
	if len(list) != 2000 || string(list[0].([]byte)) != "item-0000" || string(list[1999].([]byte)) != "item-1999" {
		t.Fatalf("LRANGE of 2000 gave %d items", len(list))
	}
	// A large bulk reply.
	big := strings.Repeat("z", 100_000)
	_, err = db.Do("SET", "bigv", big)
	must(t, err)
	if got, err := db.Do("GET", "bigv"); err != nil || string(got.([]byte)) != big {
		t.Fatalf("GET of 100,000 bytes: %v", err)
	}
}

func TestDoErrors(t *testing.T) {
	db := openTemp(t)
	_, err := db.Do("RPUSH", "list", "a")
	must(t, err)

	_, err = db.Do("GET", "list")
	var rerr *ReplyError
	if !errors.As(err, &rerr) || !errors.Is(err, ErrWrongType) || rerr.Prefix() != "WRONGTYPE" ||
		!strings.HasPrefix(err.Error(), "WRONGTYPE Operation against a key holding the wrong kind of value") {
		t.Fatalf("GET of a list: %#v", err)
	}
	if errors.Is(err, ErrNotAnInteger) {
		t.Fatalf("WRONGTYPE matches ErrNotAnInteger")
	}
	_, err = db.Do("SET", "word", "abc")
	must(t, err)
	if _, err := db.Do("INCR", "word"); !errors.Is(err, ErrNotAnInteger) || errors.Is(err, ErrWrongType) {
		t.Fatalf("INCR of a word: %v", err)
	}
	if _, err := db.Do("INCRBYFLOAT", "word", 1); !errors.Is(err, ErrNotAFloat) {
		t.Fatalf("INCRBYFLOAT of a word: %v", err)
	}
	_, err = db.Do("SET", "max", math.MaxInt64)
	must(t, err)
	if _, err := db.Do("INCR", "max"); !errors.Is(err, ErrOverflow) {
		t.Fatalf("INCR past the maximum: %v", err)
	}
	_, err = db.Do("NOSUCHCOMMAND", "x")
	if !errors.As(err, &rerr) || rerr.Prefix() != "ERR" || !strings.Contains(rerr.Msg, "unknown command") {
		t.Fatalf("an unknown command: %#v", err)
	}
	if _, err := db.Do("MULTI"); !errors.As(err, &rerr) {
		t.Fatalf("MULTI outside a session: %#v", err)
	}
	// Arguments Do cannot send are the caller's error, before any call.
	if _, err := db.Do("SET", "k", struct{}{}); !errors.Is(err, ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "argument 2 is a struct {}") {
		t.Fatalf("a struct argument: %v", err)
	}
	if _, err := db.Do(); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Do with no command: %v", err)
	}
	// The failed commands wrote nothing.
	if v, _ := db.Get([]byte("word")); string(v) != "abc" {
		t.Fatalf("word = %q", v)
	}
}

// flat builds a flattened reply as zg.c writes one.
type flat struct{ bytes.Buffer }

func (f *flat) kind(k byte) *flat { f.WriteByte(k); return f }
func (f *flat) u64(v uint64) *flat {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	f.Write(b[:])
	return f
}
func (f *flat) text(k byte, s string) *flat {
	f.kind(k).u64(uint64(len(s)))
	f.WriteString(s)
	return f
}

func TestDecodeReplyKinds(t *testing.T) {
	// The kinds ziggy_exec's RESP2 replies never use (double, boolean, set, verbatim) and
	// malformed input, which must be an error, never a panic or a huge allocation.
	f := &flat{}
	f.kind(replyArray).u64(6)
	f.kind(replyDouble).u64(math.Float64bits(1.5))
	f.kind(replyBool).u64(1)
	f.kind(replySet).u64(1).text(replyBulk, "m")
	f.text(replyVerbatim, "txt")
	f.text(replyError, "ERR inner")
	f.kind(replyMap).u64(2).text(replyStatus, "k").kind(replyInteger).u64(uint64(math.MaxUint64))
	d := decoder{buf: f.Bytes()}
	got := d.reply()
	want := []any{1.5, true, []any{[]byte("m")}, "txt", &ReplyError{Msg: "ERR inner"}, map[string]any{"k": int64(-1)}}
	if d.err != nil || !reflect.DeepEqual(got, want) || len(d.buf) != 0 {
		t.Fatalf("decoded %#v (%v), want %#v", got, d.err, want)
	}
	for name, buf := range map[string][]byte{
		"empty":        {},
		"short int":    {replyInteger, 1, 2},
		"huge count":   (&flat{}).kind(replyArray).u64(math.MaxUint64).Bytes(),
		"huge text":    (&flat{}).kind(replyBulk).u64(1 << 40).Bytes(),
		"odd map":      (&flat{}).kind(replyMap).u64(1).kind(replyNil).Bytes(),
		"unknown kind": {99},
		"cut array":    (&flat{}).kind(replyArray).u64(2).kind(replyNil).Bytes(),
	} {
		d := decoder{buf: buf}
		d.reply()
		if !errors.Is(d.err, ErrInternal) || !strings.Contains(d.err.Error(), "malformed reply") {
			t.Errorf("%s: %v", name, d.err)
		}
	}
}
