// Package outboundtest helps test that clients reuse connections: a server
// on 127.0.0.1 that counts the connections it accepts.
package outboundtest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/latchhq/latch/pkg/outbound"
)

// Server is an HTTP server on 127.0.0.1 that counts the connections it
// accepts.
type Server struct {
	URL   string
	conns atomic.Int64
}

// NewServer starts a server of h on a port it picks and stops it when the
// test ends.
func NewServer(tb testing.TB, h http.Handler) *Server {
	tb.Helper()
	s := &Server{}
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	ts.Start()
	tb.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// Conns is how many connections the server has accepted so far.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// Calls makes sequential calls one after another, then concurrent calls at
// once, and fails the test on the first error.
func Calls(tb testing.TB, sequential, concurrent int, call func(i int) error) {
	tb.Helper()
	for i := range sequential {
		if err := call(i); err != nil {
			tb.Fatalf("call %d: %v", i, err)
		}
	}
	errs := make(chan error, concurrent)
	for i := range concurrent {
		go func() { errs <- call(sequential + i) }()
	}
	for range concurrent {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

// MaxConns is the most connections a test of a client made with
// outbound.NewClient accepts for a few hundred calls to one host: the
// client opens at most outbound.ConnsPerHost at once and reuses them, but
// Go's transport drops (and later replaces) a connection whose request write
// it could not confirm within 50 ms of the answer, which a loaded test
// machine can cause now and then. Without reuse, every call beyond
// the few idle ones opens a connection of its own.
const MaxConns = 2 * outbound.ConnsPerHost
