package local_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/local"
)

// orderChecker is a queue handler that records, per key, whether two
// commands were ever handled at once, and whether one publisher's commands
// arrived out of the order it published them in.
type orderChecker struct {
	mu     sync.Mutex
	inside map[string]int             // key → handlers running now
	last   map[string]int             // publisher → last sequence number seen
	seen   map[string][]latch.Command // key → commands, in the order handled
	errs   []string
}

func newOrderChecker() *orderChecker {
	return &orderChecker{inside: map[string]int{}, last: map[string]int{}, seen: map[string][]latch.Command{}}
}

func queueKey(cmd latch.Command) string {
	if cmd.Kind.GrantLevel() {
		return "g/" + cmd.GrantID
	}
	return cmd.RequestID
}

func (o *orderChecker) handle(_ context.Context, cmd latch.Command) error {
	key := queueKey(cmd)
	var publisher string
	var seq int
	if _, err := fmt.Sscanf(cmd.Reason, "%s %d", &publisher, &seq); err != nil {
		return err
	}
	o.mu.Lock()
	o.inside[key]++
	if n := o.inside[key]; n > 1 {
		o.errs = append(o.errs, fmt.Sprintf("%s: %d commands handled at once", key, n))
	}
	if last, ok := o.last[publisher]; ok && seq != last+1 {
		o.errs = append(o.errs, fmt.Sprintf("%s: command %d handled after %d", publisher, seq, last))
	}
	o.last[publisher] = seq
	o.seen[key] = append(o.seen[key], cmd)
	o.mu.Unlock()

	runtime.Gosched() // give another handler of the same key a chance to overlap

	o.mu.Lock()
	o.inside[key]--
	o.mu.Unlock()
	return nil
}

func TestQueueHandlesOneCommandAtATimePerKeyInPublishOrder(t *testing.T) {
	const (
		keys       = 6
		publishers = 8 // per key
		perEach    = 40
	)
	o := newOrderChecker()
	q := local.NewQueue(o.handle)
	var wg sync.WaitGroup
	for k := range keys {
		for p := range publishers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perEach {
					// Half the keys are requests and half are grants, which
					// are keyed apart from requests of the same id.
					cmd := latch.Command{ID: fmt.Sprintf("k%d/p%d/%d", k, p, i), Kind: latch.CmdApprove,
						RequestID: fmt.Sprintf("req_%d", k), Reason: fmt.Sprintf("k%d/p%d %d", k, p, i)}
					if k%2 == 1 {
						cmd.Kind, cmd.RequestID, cmd.GrantID = latch.CmdDue, "", fmt.Sprintf("req_%d", k-1)
					}
					if err := q.Publish(context.Background(), cmd); err != nil {
						t.Errorf("Publish %s: %v", cmd.ID, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, e := range o.errs {
		t.Error(e)
	}
	for k := range keys {
		key := fmt.Sprintf("req_%d", k)
		if k%2 == 1 {
			key = fmt.Sprintf("g/req_%d", k-1)
		}
		if got, want := len(o.seen[key]), publishers*perEach; got != want {
			t.Errorf("key %s: %d commands handled, want %d", key, got, want)
		}
	}
}

func TestQueueRunsDifferentKeysConcurrently(t *testing.T) {
	aEntered, bEntered := make(chan struct{}), make(chan struct{})
	q := local.NewQueue(func(ctx context.Context, cmd latch.Command) error {
		switch cmd.RequestID {
		case "req_a":
			close(aEntered)
			// A holds its key until B has been handled: B must not wait for it.
			select {
			case <-bEntered:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		case "req_b":
			close(bEntered)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- q.Publish(ctx, latch.Command{ID: "a", Kind: latch.CmdApprove, RequestID: "req_a"}) }()
	<-aEntered
	if err := q.Publish(ctx, latch.Command{ID: "b", Kind: latch.CmdApprove, RequestID: "req_b"}); err != nil {
		t.Fatalf("Publish b: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Publish a: %v (b waited for a's key?)", err)
	}
}

func TestQueuePublishReturnsTheHandlersError(t *testing.T) {
	errBoom := errors.New("store unavailable")
	refused := latch.Errorf(latch.KindConflict, "not_pending", "Request req_2 is active.")
	type ctxKey struct{}
	q := local.NewQueue(func(ctx context.Context, cmd latch.Command) error {
		if ctx.Value(ctxKey{}) != "v" {
			return errors.New("the handler did not get the publisher's context")
		}
		switch cmd.RequestID {
		case "req_1":
			return errBoom
		case "req_2":
			return refused
		}
		return nil
	})
	ctx := context.WithValue(context.Background(), ctxKey{}, "v")
	for _, tt := range []struct {
		name string
		give string
		want error
	}{
		{name: "plain error", give: "req_1", want: errBoom},
		{name: "application error", give: "req_2", want: refused},
		{name: "no error", give: "req_3", want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := q.Publish(ctx, latch.Command{ID: "c-" + tt.give, Kind: latch.CmdApprove, RequestID: tt.give})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Publish = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestQueueKeyIsFreedWhenTheHandlerPanics(t *testing.T) {
	q := local.NewQueue(func(_ context.Context, cmd latch.Command) error {
		if cmd.ID == "boom" {
			panic("handler bug")
		}
		return nil
	})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Publish did not pass the handler's panic on")
			}
		}()
		_ = q.Publish(context.Background(), latch.Command{ID: "boom", Kind: latch.CmdApprove, RequestID: "req_1"})
	}()
	done := make(chan error, 1)
	go func() {
		done <- q.Publish(context.Background(), latch.Command{ID: "next", Kind: latch.CmdApprove, RequestID: "req_1"})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Publish after a panic: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Publish after a panic never returned: the request's key stayed locked")
	}
}
