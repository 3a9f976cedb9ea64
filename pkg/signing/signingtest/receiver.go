// Package signingtest lets tests act as a receiver of Latch's signed calls:
// a recording fake endpoint that checks each call's signature with
// signing.Verify and answers as the test tells it to.
package signingtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/signing"
)

// Call is one request the receiver got.
type Call struct {
	Method string
	Path   string // the request URI: path and query
	Header http.Header
	Body   []byte
	// VerifyErr is what signing.Verify said of the call's signature:
	// nil for a good one.
	VerifyErr error
}

// Receiver is a fake endpoint on 127.0.0.1. It verifies each call's
// signature with signing.Verify, with the receiver's secret and clock and
// signing.DefaultTolerance, records the call and answers with the status,
// header and body last set by Answer: 204 No Content and nothing else until
// then. It is safe for concurrent use.
type Receiver struct {
	// URL is the receiver's base, "http://127.0.0.1:<port>", without a
	// trailing slash; any path and query under it is answered.
	URL string

	secret  []byte
	clock   func() time.Time
	release chan struct{} // closed when the test ends, to free hanging calls

	mu     sync.Mutex
	calls  []Call
	status int
	body   string
	header http.Header
	hang   bool
}

// NewReceiver starts a receiver that checks signatures made with secret at
// the time clock gives (the real time if clock is nil), and stops it when
// the test ends.
func NewReceiver(tb testing.TB, secret []byte, clock func() time.Time) *Receiver {
	tb.Helper()
	if clock == nil {
		clock = time.Now
	}
	rc := &Receiver{
		secret:  append([]byte(nil), secret...),
		clock:   clock,
		release: make(chan struct{}),
		status:  http.StatusNoContent,
	}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve)) // listens on 127.0.0.1
	tb.Cleanup(func() {
		close(rc.release)
		srv.Close()
	})
	rc.URL = srv.URL
	return rc
}

// Answer sets what the receiver answers from now on: status, then body,
// with header's fields added to the response (nil for none).
func (rc *Receiver) Answer(status int, body string, header http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status, rc.body, rc.header = status, body, header.Clone()
}

// Hang makes the receiver, from now on, record each call and then not
// answer until the caller gives up (or the test ends); Hang(false) makes it
// answer again.
func (rc *Receiver) Hang(hang bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.hang = hang
}

// Calls returns every call received so far, in order, bad signatures
// included.
func (rc *Receiver) Calls() []Call {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Call(nil), rc.calls...)
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.calls = append(rc.calls, Call{
		Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body,
		VerifyErr: signing.Verify(r.Header, body, rc.secret, rc.clock(), signing.DefaultTolerance),
	})
	status, answer, hang := rc.status, rc.body, rc.hang
	for k, vs := range rc.header {
		w.Header()[k] = vs
	}
	rc.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-rc.release:
		}
		return
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}
