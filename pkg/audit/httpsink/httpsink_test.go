package httpsink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/audit/httpsink"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing"
)

type receiver struct {
	mu       sync.Mutex
	events   []string
	keys     []string
	statuses []int // answers, in order; 200 when used up
}

func newReceiver(t *testing.T, secret string) (*receiver, *httptest.Server) {
	t.Helper()
	rc := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := signing.Verify(r.Header, b, []byte(secret), time.Now(), signing.DefaultTolerance); err != nil {
			t.Errorf("call with a bad signature: %v", err)
		}
		var in struct {
			SchemaVersion int           `json:"schema_version"`
			Events        []audit.Event `json:"events"`
		}
		if err := json.Unmarshal(b, &in); err != nil || in.SchemaVersion != 1 {
			t.Errorf("body %s (%v)", b, err)
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		status := 200
		if len(rc.statuses) > 0 {
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		if status == 200 {
			for _, e := range in.Events {
				rc.events = append(rc.events, e.ID)
			}
			rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return rc, srv
}

func events(n int) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		out[i] = audit.Event{ID: fmt.Sprintf("r/%06d", i+1), SchemaVersion: 1, Type: "requested"}
	}
	return out
}

func TestSend(t *testing.T) {
	rc, srv := newReceiver(t, "s3cret")
	s, err := httpsink.New(httpsink.Config{URL: srv.URL + "/audit", Secret: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	evs := events(150)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if len(rc.events) != 150 || rc.events[0] != "r/000001" || rc.events[149] != "r/000150" {
		t.Errorf("received %d events, from %v", len(rc.events), rc.events[:1])
	}
	if diff := cmp.Diff([]string{"r/000001..r/000100", "r/000101..r/000150"}, rc.keys); diff != "" {
		t.Errorf("idempotency keys (-want +got):\n%s", diff)
	}
}

func TestPartialAndWholeFailures(t *testing.T) {
	rc, srv := newReceiver(t, "s3cret")
	s, _ := httpsink.New(httpsink.Config{URL: srv.URL, Secret: []byte("s3cret")})
	rc.statuses = []int{200, 503}
	err := s.Send(context.Background(), events(150))
	if got := audit.Failed(err, 150); len(got) != 50 || got[0] != 100 {
		t.Errorf("second call failing: failed %d events from %v, want the last 50", len(got), got[:1])
	}
	rc.statuses = []int{401}
	err = s.Send(context.Background(), events(3))
	if got := audit.Failed(err, 3); len(got) != 3 {
		t.Errorf("refused call: %v, want all three failed", err)
	}
}

// A refused call is a configuration to fix: its events wait for it, so the
// failure is not permanent (a shipper skips events refused for good).
func TestRefusalIsNotPermanent(t *testing.T) {
	rc, srv := newReceiver(t, "s3cret")
	s, _ := httpsink.New(httpsink.Config{URL: srv.URL, Secret: []byte("s3cret")})
	rc.statuses = []int{200, 401}
	err := s.Send(context.Background(), events(150))
	if got := audit.Failed(err, 150); len(got) != 50 || got[0] != 100 {
		t.Errorf("second call refused: failed %v, want the last 50", got)
	}
	if latch.IsPermanent(err) {
		t.Errorf("second call refused: %v is permanent, want retryable", err)
	}
	rc.statuses = []int{401}
	if err := s.Send(context.Background(), events(3)); err == nil || latch.IsPermanent(err) {
		t.Errorf("refused call: got %v, want a retryable error", err)
	}
}

func TestConfig(t *testing.T) {
	if _, err := httpsink.New(httpsink.Config{URL: "https://audit.example.com"}); err == nil {
		t.Error("no secret: want an error")
	}
	if _, err := httpsink.New(httpsink.Config{URL: "ftp://audit.example.com", Secret: []byte("x")}); err == nil {
		t.Error("an ftp URL: want an error")
	}
}
