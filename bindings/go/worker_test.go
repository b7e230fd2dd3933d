package ziggydb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// buildWorker builds cmd/alllang-worker with the go tool that runs this test.
func buildWorker(t *testing.T) string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	exe := filepath.Join(t.TempDir(), "alllang-worker")
	out, err := exec.Command(goTool, "build", "-o", exe, "./cmd/alllang-worker").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// A program built with the package needs no libziggydb at run time, and the all-languages
// worker passes on its own and reports a peer's wrong values.
func TestWorkerStaticAndChecks(t *testing.T) {
	exe := buildWorker(t)
	ldd, err := exec.Command("ldd", exe).CombinedOutput()
	if err != nil {
		t.Fatalf("ldd: %v\n%s", err, ldd)
	}
	if strings.Contains(string(ldd), "ziggydb") {
		t.Fatalf("the worker links libziggydb dynamically:\n%s", ldd)
	}

	dir := filepath.Join(t.TempDir(), "db")
	out, err := exec.Command(exe, dir, "go", "go").CombinedOutput()
	if err != nil || string(out) != "go ok\n" {
		t.Fatalf("worker alone: %v\n%s", err, out)
	}
	db, err := Open(dir, nil)
	must(t, err)
	defer db.Close()
	for key, want := range map[string]int64{"all:counter": 500, "all:ready": 1, "all:done": 1} {
		if n, err := db.GetInt([]byte(key)); err != nil || n != want {
			t.Fatalf("%s = %d, %v; want %d", key, n, err, want)
		}
	}
	list, err := db.Do("LRANGE", "all:list", 0, -1)
	must(t, err)
	if items := list.([]any); len(items) != 100 || string(items[0].([]byte)) != "go:0" ||
		string(items[99].([]byte)) != "go:99" {
		t.Fatalf("all:list = %q", list)
	}

	// A peer "bad" that wrote the wrong values (and is done): each is a problem line.
	must(t, db.SetFloat([]byte("typed:bad:float"), 0.2))
	must(t, db.SetString([]byte("typed:bad:int"), "-9007199254740993"))
	must(t, db.SetBool([]byte("typed:bad:bool"), true))
	must(t, db.SetTime([]byte("typed:bad:timestamp"), time.UnixMilli(1767225600123)))
	must(t, db.SetJSON([]byte("typed:bad:json"), []byte(`{"lang":"bad","list":[1,2.5,null,true,"y"]}`)))
	must(t, db.Set([]byte("typed:bad:bytes"), []byte("zig\x00gy\xff")))
	must(t, db.SetString([]byte("typed:bad:string"), "ziggy ✓ bad"))
	must(t, db.Delete([]byte("all:done")))
	if _, err := db.IncrBy([]byte("all:done"), 1); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, dir, "go", "go,bad")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("worker passed with a bad peer: %s", stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 3 || stdout.Len() != 0 ||
		!strings.Contains(lines[0], "peer bad int") || !strings.Contains(lines[1], "peer bad float") ||
		!strings.Contains(lines[2], "peer bad json") {
		t.Fatalf("problems: %q (stdout %q)", lines, stdout.String())
	}
}

// The Go worker with other languages' workers, started at once on one directory:
// ZIGGYDB_ALLLANG_WORKERS="rust=PATH,c=PATH" (bindings/go/ci.sh sets it). The counter ends
// exact, the list has each worker's 100 entries exactly once and in its own order.
func TestAllLanguagesRun(t *testing.T) {
	spec := os.Getenv("ZIGGYDB_ALLLANG_WORKERS")
	if spec == "" {
		t.Skip("ZIGGYDB_ALLLANG_WORKERS is not set (bindings/go/ci.sh sets it)")
	}
	workers := map[string]string{"go": buildWorker(t)}
	names := []string{"go"}
	for _, w := range strings.Split(spec, ",") {
		name, path, ok := strings.Cut(w, "=")
		if !ok {
			t.Fatalf("ZIGGYDB_ALLLANG_WORKERS: %q is not NAME=PATH", w)
		}
		workers[name] = path
		names = append(names, name)
	}
	peers := strings.Join(names, ",")
	dir := filepath.Join(t.TempDir(), "db")
	type result struct {
		name string
		out  []byte
		err  error
	}
	results := make(chan result, len(names))
	for _, name := range names {
		cmd := exec.Command(workers[name], dir, name, peers)
		go func(name string) {
			out, err := cmd.CombinedOutput()
			results <- result{name, out, err}
		}(name)
	}
	for range names {
		r := <-results
		if r.err != nil || string(r.out) != r.name+" ok\n" {
			t.Errorf("worker %s: %v\n%s", r.name, r.err, r.out)
		}
	}
	if t.Failed() {
		return
	}
	db, err := Open(dir, nil)
	must(t, err)
	defer db.Close()
	if n, err := db.GetInt([]byte("all:counter")); err != nil || n != int64(500*len(names)) {
		t.Fatalf("all:counter = %d, %v; want %d", n, err, 500*len(names))
	}
	list, err := db.Do("LRANGE", "all:list", 0, -1)
	must(t, err)
	next := map[string]int{}
	for _, item := range list.([]any) {
		name, i, _ := strings.Cut(string(item.([]byte)), ":")
		if i != fmt.Sprint(next[name]) {
			t.Fatalf("all:list has %s:%s where %s:%d comes next", name, i, name, next[name])
		}
		next[name]++
	}
	for _, name := range names {
		if next[name] != 100 {
			t.Fatalf("all:list has %d entries of %s", next[name], name)
		}
	}
	if len(list.([]any)) != 100*len(names) {
		t.Fatalf("all:list has %d entries", len(list.([]any)))
	}
}
