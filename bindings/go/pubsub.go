package ziggydb

/*
#include "zg.h"
*/
import "C"

import (
	"context"
	"sync"
	"time"
	"unsafe"
)

// session is a library session (ziggy_session): MULTI, WATCH and subscriptions keep their
// state in it from one command to the next. It stays valid after its DB is closed.
type session struct {
	s *C.ziggy_session
}

func openSession(db *DB) (*session, error) {
	h, err := db.handle()
	if err != nil {
		return nil, err
	}
	defer db.mu.RUnlock()
	var s *C.ziggy_session
	r := C.zg_session_open(h, &s)
	if r.rc != C.ZIGGY_OK {
		return nil, resErr(r)
	}
	return &session{s: s}, nil
}

func (s *session) close() {
	C.ziggy_session_close(s.s)
	s.s = nil
}

// decodeFlat decodes a reply that a zg helper flattened into scratch or into memory of its
// own (freed here).
func decodeFlat(r C.zg_res, scratch []byte) (any, error) {
	var flat []byte
	if r.ptr == nil {
		flat = scratch[:int(r.len)]
	} else {
		flat = unsafe.Slice((*byte)(r.ptr), int(r.len))
		defer C.free(r.ptr)
	}
	d := decoder{buf: flat}
	v := d.reply()
	if d.err != nil {
		return nil, d.err
	}
	if e, ok := v.(*ReplyError); ok {
		return nil, e
	}
	return v, nil
}

func (s *session) do(args []any) (any, error) {
	data, lens, err := packArgs(args)
	if err != nil {
		return nil, err
	}
	var dataPtr *C.char
	if len(data) > 0 {
		dataPtr = (*C.char)(unsafe.Pointer(&data[0]))
	}
	buf := doScratch.Get().(*[512]byte)
	defer doScratch.Put(buf)
	scratch := buf[:]
	r := C.zg_session_exec(s.s, C.int(len(args)), dataPtr, &lens[0],
		unsafe.Pointer(&scratch[0]), C.size_t(len(scratch)))
	if r.rc != C.ZIGGY_OK {
		return nil, resErr(r)
	}
	return decodeFlat(r, scratch)
}

// DoContext is Do whose blocking command (BLPOP, BRPOP, BLMOVE, BZPOPMIN, ...) ends early
// when ctx is done: it then returns ctx.Err(). A command that does not block runs as with
// Do; ctx done before the call returns ctx.Err() without running it.
//
//	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//	defer cancel()
//	v, err := db.DoContext(ctx, "BLPOP", "jobs", 0) // []any{[]byte("jobs"), job}
func (db *DB) DoContext(ctx context.Context, args ...any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := openSession(db)
	if err != nil {
		return nil, err
	}
	defer s.close()
	var intr *C.ziggy_interrupter
	if r := C.zg_interrupter(s.s, &intr); r.rc != C.ZIGGY_OK {
		return nil, resErr(r)
	}
	defer C.ziggy_interrupter_free(intr)
	done := make(chan struct{})
	var watcher sync.WaitGroup
	if ctx.Done() != nil {
		watcher.Add(1)
		go func() {
			defer watcher.Done()
			select {
			case <-ctx.Done():
				C.ziggy_interrupt(intr)
			case <-done:
			}
		}()
	}
	v, err := s.do(args)
	close(done)
	// No ziggy_interrupt may run when the interrupter is freed.
	watcher.Wait()
	if cerr := ctx.Err(); cerr != nil && err == nil && v == nil {
		return nil, cerr
	}
	return v, err
}

// Message is what a subscriber receives: a message published to one of its channels or
// patterns, or the reply to a (un)subscription.
type Message struct {
	// Kind is "message", "pmessage" (a message that matched a pattern), or "subscribe",
	// "psubscribe", "unsubscribe", "punsubscribe" (a reply to a subscription change).
	Kind string
	// Pattern is the pattern a pmessage matched, else "".
	Pattern string
	// Channel is the channel, or the pattern of a (p)subscribe/(p)unsubscribe reply.
	Channel string
	// Payload is the published message (nil for a subscription reply).
	Payload []byte
	// Count is the number of subscriptions left after a subscription reply.
	Count int64
}

// PubSub is a subscriber: its own session, subscribed to channels and patterns, receiving
// what any process on the directory publishes to them (PUBLISH), in publish order per
// publisher. Its methods are safe to call from several goroutines (one at a time runs).
// Close it to end its subscriptions; it stays usable after its DB is closed.
type PubSub struct {
	mu      sync.Mutex
	s       *session
	pending []any // replies of a command that Receive has not returned yet
}

// Subscribe returns a subscriber to channels (none: a subscriber to subscribe later).
// Receive first returns one "subscribe" Message per channel.
func (db *DB) Subscribe(channels ...string) (*PubSub, error) {
	s, err := openSession(db)
	if err != nil {
		return nil, err
	}
	p := &PubSub{s: s}
	if len(channels) > 0 {
		if err := p.Subscribe(channels...); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// PSubscribe returns a subscriber to glob-style patterns (e.g. "news.*").
func (db *DB) PSubscribe(patterns ...string) (*PubSub, error) {
	p, err := db.Subscribe()
	if err != nil {
		return nil, err
	}
	if err := p.PSubscribe(patterns...); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *PubSub) command(name string, names []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s == nil {
		return ErrClosed
	}
	args := make([]any, 0, len(names)+1)
	args = append(args, name)
	for _, n := range names {
		args = append(args, n)
	}
	// A command's first reply comes back here, its others (one per channel) through
	// next_message: Receive returns the first from here, in order.
	v, err := p.s.do(args)
	if err != nil {
		return err
	}
	p.pending = append(p.pending, v)
	return nil
}

// Subscribe adds channels.
func (p *PubSub) Subscribe(channels ...string) error { return p.command("SUBSCRIBE", channels) }

// PSubscribe adds patterns.
func (p *PubSub) PSubscribe(patterns ...string) error {
	return p.command("PSUBSCRIBE", patterns)
}

// Unsubscribe removes channels, or every channel if none is given.
func (p *PubSub) Unsubscribe(channels ...string) error {
	return p.command("UNSUBSCRIBE", channels)
}

// PUnsubscribe removes patterns, or every pattern if none is given.
func (p *PubSub) PUnsubscribe(patterns ...string) error {
	return p.command("PUNSUBSCRIBE", patterns)
}

// Receive returns the next Message, waiting up to timeout for one (0: only what is there;
// negative: until one comes); nil, nil if none came. A subscriber that fell further behind
// than the shared ring holds gets a *ReplyError (SUBSCRIBER_OVERRUN) and is no longer
// subscribed.
func (p *PubSub) Receive(timeout time.Duration) (*Message, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s == nil {
		return nil, ErrClosed
	}
	var v any
	if len(p.pending) > 0 {
		v = p.pending[0]
		p.pending = p.pending[1:]
	} else {
		ms := int64(-1)
		if timeout >= 0 {
			ms = int64((timeout + time.Millisecond - 1) / time.Millisecond)
		}
		buf := doScratch.Get().(*[512]byte)
		defer doScratch.Put(buf)
		scratch := buf[:]
		r := C.zg_next_message(p.s.s, C.int64_t(ms), unsafe.Pointer(&scratch[0]),
			C.size_t(len(scratch)))
		if r.rc != C.ZIGGY_OK {
			return nil, resErr(r)
		}
		if r.vtype == 0 {
			return nil, nil
		}
		var err error
		if v, err = decodeFlat(r, scratch); err != nil {
			return nil, err
		}
	}
	return toMessage(v)
}

func toMessage(v any) (*Message, error) {
	items, ok := v.([]any)
	if !ok || len(items) < 3 {
		return nil, &Error{Code: ErrInternal.Code, Name: ErrInternal.Name,
			Msg: "not a Pub/Sub message from the library"}
	}
	str := func(x any) string {
		switch x := x.(type) {
		case []byte:
			return string(x)
		case string:
			return x
		}
		return ""
	}
	m := &Message{Kind: str(items[0])}
	rest := items[1:]
	if m.Kind == "pmessage" && len(rest) == 3 {
		m.Pattern = str(rest[0])
		rest = rest[1:]
	}
	m.Channel = str(rest[0])
	switch x := rest[1].(type) {
	case []byte:
		m.Payload = x
	case int64:
		m.Count = x
	}
	return m, nil
}

// Close ends the subscriptions and frees the session; later calls return ErrClosed.
func (p *PubSub) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s != nil {
		p.s.close()
		p.s = nil
	}
	p.pending = nil
	return nil
}
