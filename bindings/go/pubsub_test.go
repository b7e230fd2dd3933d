package ziggydb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// doWorker runs one command (its arguments separated by "\x1f") in a process of its own:
// the other process of the Pub/Sub and blocking-pop tests.
func doWorker(dir, args string) int {
	db, err := Open(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	var argv []any
	for _, a := range strings.Split(args, "\x1f") {
		argv = append(argv, a)
	}
	if _, err := db.Do(argv...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// inOtherProcess runs a command in a child process on dir.
func inOtherProcess(t *testing.T, dir string, args ...string) {
	t.Helper()
	exe, err := os.Executable()
	must(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "ZIGGYDB_GO_TEST_WORKER=do", "ZIGGYDB_GO_TEST_DIR="+dir,
		"ZIGGYDB_GO_TEST_ARGS="+strings.Join(args, "\x1f"))
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v in another process: %v: %s", args, err, out)
	}
}

func openTempDir(t *testing.T) (*DB, string) {
	dir := filepath.Join(t.TempDir(), "db")
	db, err := Open(dir, nil)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db, dir
}

// receive waits generously (a loaded machine) for the next message.
func receive(t *testing.T, p *PubSub) Message {
	t.Helper()
	m, err := p.Receive(60 * time.Second)
	must(t, err)
	if m == nil {
		t.Fatal("no message within 60 s")
	}
	return *m
}

func TestSubscribeReceivesFromAnotherProcess(t *testing.T) {
	db, dir := openTempDir(t)
	p, err := db.Subscribe("news", "other")
	must(t, err)
	defer p.Close()
	if m := receive(t, p); !reflect.DeepEqual(m, Message{Kind: "subscribe", Channel: "news", Count: 1}) {
		t.Fatalf("first reply %+v", m)
	}
	if m := receive(t, p); !reflect.DeepEqual(m, Message{Kind: "subscribe", Channel: "other", Count: 2}) {
		t.Fatalf("second reply %+v", m)
	}
	if m, err := p.Receive(0); m != nil || err != nil {
		t.Fatalf("nothing published yet, got %+v, %v", m, err)
	}
	inOtherProcess(t, dir, "PUBLISH", "news", "first")
	inOtherProcess(t, dir, "PUBLISH", "nobody", "x")
	inOtherProcess(t, dir, "PUBLISH", "other", "second")
	if m := receive(t, p); !reflect.DeepEqual(m, Message{Kind: "message", Channel: "news", Payload: []byte("first")}) {
		t.Fatalf("got %+v", m)
	}
	if m := receive(t, p); !reflect.DeepEqual(m, Message{Kind: "message", Channel: "other", Payload: []byte("second")}) {
		t.Fatalf("got %+v", m)
	}
	if m, err := p.Receive(100 * time.Millisecond); m != nil || err != nil {
		t.Fatalf("nothing more was published, got %+v, %v", m, err)
	}
	must(t, p.Unsubscribe("news"))
	if m := receive(t, p); !reflect.DeepEqual(m, Message{Kind: "unsubscribe", Channel: "news", Count: 1}) {
		t.Fatalf("got %+v", m)
	}
	inOtherProcess(t, dir, "PUBLISH", "news", "not for us")
	inOtherProcess(t, dir, "PUBLISH", "other", "third")
	if m := receive(t, p); string(m.Payload) != "third" {
		t.Fatalf("got %+v", m)
	}
	must(t, p.Close())
	if _, err := p.Receive(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Receive after Close: %v", err)
	}
	if err := p.Subscribe("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

func TestPSubscribe(t *testing.T) {
	db, dir := openTempDir(t)
	p, err := db.PSubscribe("news.*")
	must(t, err)
	defer p.Close()
	if m := receive(t, p); !reflect.DeepEqual(m, Message{Kind: "psubscribe", Channel: "news.*", Count: 1}) {
		t.Fatalf("got %+v", m)
	}
	inOtherProcess(t, dir, "PUBLISH", "news.tech", "chips")
	inOtherProcess(t, dir, "PUBLISH", "sport", "no")
	inOtherProcess(t, dir, "PUBLISH", "news.art", "paint")
	want := []Message{
		{Kind: "pmessage", Pattern: "news.*", Channel: "news.tech", Payload: []byte("chips")},
		{Kind: "pmessage", Pattern: "news.*", Channel: "news.art", Payload: []byte("paint")},
	}
	for _, w := range want {
		if m := receive(t, p); !reflect.DeepEqual(m, w) {
			t.Fatalf("got %+v, want %+v", m, w)
		}
	}
	var re *ReplyError
	if _, err := db.PSubscribe(); !errors.As(err, &re) || !strings.Contains(re.Msg, "wrong number of arguments") {
		t.Fatalf("PSUBSCRIBE without a pattern: %v", err)
	}
}

func TestDoContextBlpopWokenByAnotherProcess(t *testing.T) {
	db, dir := openTempDir(t)
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := db.DoContext(context.Background(), "BLPOP", "jobs", 0)
		done <- result{v, err}
	}()
	time.Sleep(300 * time.Millisecond)
	inOtherProcess(t, dir, "RPUSH", "jobs", "job-1")
	select {
	case r := <-done:
		must(t, r.err)
		if !reflect.DeepEqual(r.v, []any{[]byte("jobs"), []byte("job-1")}) {
			t.Fatalf("BLPOP gave %#v", r.v)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("BLPOP was not woken by the push")
	}
}

func TestDoContextCancelEndsBlpop(t *testing.T) {
	db := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		v, err := db.DoContext(ctx, "BLPOP", "never", 0)
		if v != nil {
			err = fmt.Errorf("BLPOP gave %#v", v)
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled BLPOP: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("cancelling the context did not end BLPOP 0")
	}

	// A deadline ends it too; and a context done before the call runs nothing.
	ctx, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if _, err := db.DoContext(ctx, "BLPOP", "never", 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("BLPOP past its deadline: %v", err)
	}
	if _, err := db.DoContext(ctx, "RPUSH", "never", "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call with a done context: %v", err)
	}
	if n, err := db.Do("LLEN", "never"); err != nil || n != int64(0) {
		t.Fatalf("LLEN %v %v: the call with a done context ran", n, err)
	}
	// Not cancelled: its own timeout ends it with nil, and a pop finds an element.
	if v, err := db.DoContext(context.Background(), "BLPOP", "never", 0.05); v != nil || err != nil {
		t.Fatalf("BLPOP 0.05: %#v %v", v, err)
	}
	must(t, db.SetInt([]byte("n"), 1))
	if _, err := db.DoContext(context.Background(), "BLPOP", "n", 0); !errors.Is(err, ErrWrongType) {
		t.Fatalf("BLPOP of an integer: %v", err)
	}
}
