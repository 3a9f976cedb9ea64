package outbound_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
	"github.com/latchhq/latch/pkg/outbound/outboundtest"
)

// Senders given no client share one that keeps connections alive: 200
// calls one after another and 50 at once, answered with and without bodies,
// successes and failures, open a few connections (at most outboundtest.MaxConns) to the
// endpoint, never one per call.
func TestSendersReuseConnections(t *testing.T) {
	big := strings.Repeat("x", 8<<10) // more than a failure's excerpt reads
	srv := outboundtest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.Header.Get("Idempotency-Key")[0] {
		case '0':
			w.WriteHeader(http.StatusNoContent)
		case '1':
			_, _ = io.WriteString(w, `{"ok":true}`)
		case '2':
			http.Error(w, big, http.StatusServiceUnavailable)
		default:
			http.Error(w, big, http.StatusForbidden)
		}
	}))
	// Two Senders to the same host share the connections.
	a := newSender(t, srv.URL+"/a")
	b := newSender(t, srv.URL+"/b")
	outboundtest.Calls(t, 200, 50, func(i int) error {
		s := a
		if i%2 == 1 {
			s = b
		}
		kind := i % 4
		_, err := s.Post(context.Background(), []byte(`{}`), fmt.Sprintf("%d-%d", kind, i), "test")
		switch {
		case kind < 2 && err != nil:
			return err
		case kind == 2 && (err == nil || latch.IsPermanent(err)):
			return fmt.Errorf("call %d: %v, want a retryable failure", i, err)
		case kind == 3 && !latch.IsPermanent(err):
			return fmt.Errorf("call %d: %v, want a permanent failure", i, err)
		}
		return nil
	})
	if n := srv.Conns(); n < 1 || n > outboundtest.MaxConns {
		t.Errorf("the endpoint accepted %d connections for 250 calls, want 1 to %d", n, outboundtest.MaxConns)
	}
	t.Logf("%d connections for 250 calls", srv.Conns())
}

// A client that stops reading an answer early still gets its connection
// back: NewClient's clients drain bodies when they are closed.
func TestNewClientDrainsBodies(t *testing.T) {
	srv := outboundtest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("y", 16<<10))
	}))
	c := outbound.NewClient(0)
	outboundtest.Calls(t, 100, 0, func(int) error {
		resp, err := c.Get(srv.URL)
		if err != nil {
			return err
		}
		_, _ = io.ReadFull(resp.Body, make([]byte, 10)) // read only the start
		return resp.Body.Close()
	})
	if n := srv.Conns(); n < 1 || n > outboundtest.MaxConns {
		t.Errorf("100 calls one after another opened %d connections, want 1 to %d", n, outboundtest.MaxConns)
	}
}
