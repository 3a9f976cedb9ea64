package streamship

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/audit/httpsink"
	"github.com/latchhq/latch/pkg/audit/stdout"
)

// TestRealSinks ships the stream to the stdout destination and to the HTTP
// destination, whose endpoint answers 503 once: both receive every event,
// once each, in order, exactly as audit.FromAudit makes them.
func TestRealSinks(t *testing.T) {
	var (
		mu    sync.Mutex
		calls int
		got   []audit.Event
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var body struct{ Events []audit.Event }
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		got = append(got, body.Events...)
	}))
	defer srv.Close()
	web, err := httpsink.New(httpsink.Config{URL: srv.URL, Secret: []byte("audit-secret")})
	if err != nil {
		t.Fatal(err)
	}
	var lines bytes.Buffer
	out, err := stdout.New(stdout.Config{Writer: &lines})
	if err != nil {
		t.Fatal(err)
	}

	sleep := &fakeSleep{}
	handle(t, &Handler{Sinks: []audit.Sink{out, web}, sleep: sleep.sleep}, batch(t), failures())

	w := written()
	var want []audit.Event
	for _, id := range allIDs {
		want = append(want, audit.FromAudit(w[id]))
	}
	var printed []audit.Event
	sc := bufio.NewScanner(&lines)
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %s: %v", sc.Bytes(), err)
		}
		printed = append(printed, e)
	}
	// Through JSON, as every destination sees them.
	want = roundTrip(t, want)
	if diff := cmp.Diff(want, printed); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("HTTP endpoint (-want +got):\n%s", diff)
	}
	if calls != 2 || len(sleep.got()) != 1 {
		t.Errorf("%d calls and %d waits, want 2 and 1", calls, len(sleep.got()))
	}
}

func roundTrip(t *testing.T, evs []audit.Event) []audit.Event {
	t.Helper()
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Event
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
