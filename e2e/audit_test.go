package e2e

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/audit/datadog"
	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// fakeDatadog is Datadog's logs intake (POST /api/v2/logs with DD-API-KEY,
// a JSON array, gzip or not); it records every log it accepts.
type fakeDatadog struct {
	mu   sync.Mutex
	logs []datadog.Log
}

func newFakeDatadog(t *testing.T, apiKey string) (*fakeDatadog, *httptest.Server) {
	t.Helper()
	fd := &fakeDatadog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/logs" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if r.Header.Get("DD-API-KEY") != apiKey {
			http.Error(w, `{"errors":["Forbidden"]}`, http.StatusForbidden)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, "bad gzip", http.StatusBadRequest)
				return
			}
			body = zr
		}
		var logs []datadog.Log
		if err := json.NewDecoder(body).Decode(&logs); err != nil {
			t.Errorf("Datadog intake got a body that is not a JSON array of logs: %v", err)
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		fd.mu.Lock()
		fd.logs = append(fd.logs, logs...)
		fd.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	return fd, srv
}

func (fd *fakeDatadog) received() []datadog.Log {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return append([]datadog.Log(nil), fd.logs...)
}

// A request's whole life, with Datadog configured: every audit event
// arrives there exactly once, in order per request, with the tags.
func TestAuditToDatadog(t *testing.T) {
	const apiKey = "dd-e2e-api-key"
	dd, ddSrv := newFakeDatadog(t, apiKey)
	t.Setenv("LATCH_AUDIT_DATADOG_URL", ddSrv.URL)
	t.Setenv("LATCH_AUDIT_DATADOG_API_KEY", apiKey)
	t.Setenv("LATCH_AUDIT_DATADOG_TAGS", "env:e2e,team:security")
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()

	granted, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "audit", "duration": 1}})
	if err != nil {
		t.Fatal(err)
	}
	denied, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "carol@example.com", Fields: map[string]any{"reason": "audit"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, granted.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, denied.ID, "deny", httpapi.ActionBody{As: "alice@example.com", Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	tg.next(10 * time.Second)
	tg.next(10 * time.Second)
	waitStatus(t, c, granted.ID, latch.StatusEnded, 10*time.Second)

	want := map[string][]string{}
	for _, id := range []string{granted.ID, denied.ID} {
		evs, err := c.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			want[id] = append(want[id], e.ID)
		}
	}
	// Every event of the feed ships: the requests' and the identity Latch learned.
	feed, err := c.Audit(ctx, client.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	total := len(feed.Events)
	if total <= len(want[granted.ID])+len(want[denied.ID]) {
		t.Fatalf("the feed has %d events; want the requests' and at least one identity_mapped", total)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(dd.received()) < total && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive in this time
	logs := dd.received()
	seen := map[string]int{}
	got := map[string][]string{}
	for _, l := range logs {
		seen[l.Audit.ID]++
		got[l.Audit.RequestID] = append(got[l.Audit.RequestID], l.Audit.ID)
		if l.Service != "latch" || l.DDSource != "latch" || !strings.Contains(l.DDTags, "env:e2e") || !strings.Contains(l.DDTags, "team:security") {
			t.Errorf("log %s: service %q source %q tags %q; want latch, latch and the configured tags", l.Audit.ID, l.Service, l.DDSource, l.DDTags)
		}
		if l.Audit.SchemaVersion != 1 || l.Audit.Type == "" || l.Audit.At.IsZero() {
			t.Errorf("log %s: event %+v is not a full schema-1 event", l.Audit.ID, l.Audit)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s arrived %d times, want once", id, n)
		}
	}
	delete(got, "") // events that belong to no request; counted above
	for req, ids := range want {
		if strings.Join(got[req], " ") != strings.Join(ids, " ") {
			t.Errorf("request %s: Datadog has %v, want %v in this order", req, got[req], ids)
		}
	}
	if len(logs) != total {
		t.Errorf("Datadog has %d logs, want %d", len(logs), total)
	}
}
