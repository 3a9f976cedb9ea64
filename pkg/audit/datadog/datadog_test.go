package datadog_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/latchhq/latch/pkg/audit/audittest"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/audit/datadog"
	"github.com/latchhq/latch/pkg/latch"
)

const apiKey = "0123456789abcdef0123456789abcdef"

var at = audittest.At

// call is one request the fake intake got.
type call struct {
	Path     string
	Header   http.Header
	RawBytes int // size of the JSON array, uncompressed
	Logs     []datadog.Log
	Raw      []json.RawMessage
}

// intake is a fake Datadog logs intake (API v2). Like the real one it
// refuses a wrong DD-API-KEY with 403, a payload over 5 MB with 413, and a
// body that is not a JSON array of logs with 400. It records what it
// accepted and answers with the statuses queued by answer, then 202.
type intake struct {
	srv *httptest.Server

	mu       sync.Mutex
	calls    []call
	statuses []int
	hang     bool
}

func newIntake(tb testing.TB) *intake {
	tb.Helper()
	in := &intake{}
	release := make(chan struct{})
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		hang := in.hang
		in.mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		status, body := in.serve(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	tb.Cleanup(func() {
		close(release)
		in.srv.Close()
	})
	return in
}

func (in *intake) serve(r *http.Request) (int, string) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/logs" {
		return http.StatusNotFound, `{"errors":["not found"]}`
	}
	if r.Header.Get("DD-API-KEY") != apiKey {
		return http.StatusForbidden, `{"errors":[{"status":"403","title":"Forbidden","detail":"API key is invalid"}]}`
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return http.StatusBadRequest, `{"errors":["bad gzip"]}`
		}
		body = zr
	}
	raw, err := io.ReadAll(io.LimitReader(body, 6_000_000))
	if err != nil {
		return http.StatusBadRequest, `{"errors":["bad body"]}`
	}
	if len(raw) > 5_000_000 {
		return http.StatusRequestEntityTooLarge, `{"errors":["payload too large"]}`
	}
	c := call{Path: r.URL.Path, Header: r.Header.Clone(), RawBytes: len(raw)}
	if err := json.Unmarshal(raw, &c.Raw); err != nil {
		return http.StatusBadRequest, `{"errors":["not a JSON array"]}`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.Logs); err != nil {
		return http.StatusBadRequest, fmt.Sprintf(`{"errors":[%q]}`, err.Error())
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	status := http.StatusAccepted
	if len(in.statuses) > 0 {
		status, in.statuses = in.statuses[0], in.statuses[1:]
	}
	if status == http.StatusAccepted {
		in.calls = append(in.calls, c)
		return status, `{}`
	}
	return status, `{"errors":["scripted failure"]}`
}

// answer queues the statuses of the next calls.
func (in *intake) answer(statuses ...int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.statuses = append(in.statuses, statuses...)
}

// accepted returns the calls the intake accepted.
func (in *intake) accepted() []call {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]call(nil), in.calls...)
}

// ids returns the audit event ids of every accepted log, in order.
func (in *intake) ids() []string {
	var out []string
	for _, c := range in.accepted() {
		for _, l := range c.Logs {
			out = append(out, l.Audit.ID)
		}
	}
	return out
}

func newSink(tb testing.TB, in *intake, edit ...func(*datadog.Config)) *datadog.Sink {
	tb.Helper()
	c := datadog.Config{Endpoint: in.srv.URL, APIKey: apiKey}
	for _, f := range edit {
		f(&c)
	}
	s, err := datadog.New(c)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

func span(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestSendOneBatch(t *testing.T) {
	in := newIntake(t)
	s := newSink(t, in, func(c *datadog.Config) {
		c.Tags = []string{"env:prod", "team:security", "env:prod"}
		c.Hostname = "latch-1"
	})
	if s.Name() != "datadog" {
		t.Errorf("Name() = %q", s.Name())
	}
	evs := audittest.Events(3)
	evs[1].Type = string(latch.AuditFailed)
	evs[1].Actor = audit.Actor{System: true}
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	calls := in.accepted()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	c := calls[0]
	for h, want := range map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip", "User-Agent": "latch-audit"} {
		if got := c.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	want := []datadog.Log{
		{DDSource: "latch", DDTags: "env:prod,team:security", Hostname: "latch-1", Service: "latch", Status: "info",
			Message: "approved request req_0000 on db-admin by lead@example.com", Audit: evs[0]},
		{DDSource: "latch", DDTags: "env:prod,team:security", Hostname: "latch-1", Service: "latch", Status: "error",
			Message: "failed request req_0001 on db-admin by latch", Audit: evs[1]},
		{DDSource: "latch", DDTags: "env:prod,team:security", Hostname: "latch-1", Service: "latch", Status: "info",
			Message: "approved request req_0002 on db-admin by lead@example.com", Audit: evs[2]},
	}
	if diff := cmp.Diff(want, c.Logs); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
	// The event is the log's "audit" attribute, in the published schema.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(c.Raw[0], &raw); err != nil {
		t.Fatal(err)
	}
	wantAudit, _ := json.Marshal(evs[0])
	if string(raw["audit"]) != string(wantAudit) {
		t.Errorf("audit attribute = %s, want %s", raw["audit"], wantAudit)
	}
}

func TestSendServiceAndSource(t *testing.T) {
	in := newIntake(t)
	s := newSink(t, in, func(c *datadog.Config) { c.Service, c.Source = "access", "latch-prod" })
	if err := s.Send(context.Background(), audittest.Events(1)); err != nil {
		t.Fatal(err)
	}
	l := in.accepted()[0].Logs[0]
	if l.Service != "access" || l.DDSource != "latch-prod" || l.DDTags != "" || l.Hostname != "" {
		t.Errorf("log = service %q, ddsource %q, ddtags %q, hostname %q", l.Service, l.DDSource, l.DDTags, l.Hostname)
	}
	if !bytes.Contains(in.accepted()[0].Raw[0], []byte(`"ddsource":"latch-prod"`)) || bytes.Contains(in.accepted()[0].Raw[0], []byte(`"ddtags"`)) {
		t.Errorf("raw log: %s", in.accepted()[0].Raw[0])
	}
}

func TestSendBatchesByCount(t *testing.T) {
	in := newIntake(t)
	s := newSink(t, in)
	evs := audittest.Events(2500)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var sizes []int
	for _, c := range in.accepted() {
		sizes = append(sizes, len(c.Logs))
	}
	if diff := cmp.Diff([]int{1000, 1000, 500}, sizes); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(audittest.IDs(evs), in.ids()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// big returns event i carrying about n bytes of data.
func big(i, n int) audit.Event {
	e := audittest.Event(i)
	e.Data = map[string]any{"blob": strings.Repeat("x", n)}
	return e
}

func TestSendBatchesBySize(t *testing.T) {
	in := newIntake(t)
	s := newSink(t, in)
	var evs []audit.Event
	for i := range 25 {
		evs = append(evs, big(i, 900_000))
	}
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	calls := in.accepted()
	if len(calls) != 5 {
		t.Errorf("%d calls, want 5 (5 logs of ~0.9 MB under 5 MB each)", len(calls))
	}
	for i, c := range calls {
		if c.RawBytes > datadog.MaxBatchBytes {
			t.Errorf("call %d is %d bytes", i, c.RawBytes)
		}
	}
	if diff := cmp.Diff(audittest.IDs(evs), in.ids()); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestSendEventTooLargeOrNotJSON(t *testing.T) {
	in := newIntake(t)
	s := newSink(t, in)
	evs := audittest.Events(4)
	evs[1] = big(1, datadog.MaxLogBytes)
	evs[3].Fields = map[string]any{"ratio": math.Inf(1)}

	err := s.Send(context.Background(), evs)
	var pe *audit.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Send = %v, want a *audit.PartialError", err)
	}
	if diff := cmp.Diff([]int{1, 3}, pe.Failed); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
	if !latch.IsPermanent(err) || latch.ErrorCodeOf(err) != datadog.CodeBadEvent || !strings.Contains(err.Error(), "req_0001/1") {
		t.Errorf("err = %v, want permanent %s naming req_0001/1", err, datadog.CodeBadEvent)
	}
	if diff := cmp.Diff([]string{"req_0000/1", "req_0002/1"}, in.ids()); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}

	// Alone, nothing is sent.
	err = s.Send(context.Background(), evs[1:2])
	// Alone it is still refused on its own account: partial, so that a
	// shipper skips it rather than retrying it for ever.
	if !latch.IsPermanent(err) || !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0] != 0 {
		t.Errorf("Send(too large alone) = %v, want a permanent partial error naming it", err)
	}
	if len(in.accepted()) != 1 {
		t.Errorf("%d calls, want 1", len(in.accepted()))
	}
}

func TestSendPartialFailure(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		statuses []int
		want     []int
		wantIDs  int // events accepted
	}{
		{name: "second batch 500", n: 1500, statuses: []int{202, 500}, want: span(1000, 1500), wantIDs: 1000},
		{name: "middle batch 503, the next is still sent", n: 2500, statuses: []int{202, 503, 202}, want: span(1000, 2000), wantIDs: 1500},
		{name: "first batch 429", n: 1200, statuses: []int{429}, want: span(0, 1000), wantIDs: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newIntake(t)
			in.answer(tt.statuses...)
			s := newSink(t, in)
			err := s.Send(context.Background(), audittest.Events(tt.n))
			var pe *audit.PartialError
			if !errors.As(err, &pe) {
				t.Fatalf("Send = %v, want a *audit.PartialError", err)
			}
			if diff := cmp.Diff(tt.want, pe.Failed); diff != "" {
				t.Errorf("Failed (-want +got):\n%s", diff)
			}
			if latch.IsPermanent(err) || latch.ErrorCodeOf(err) != datadog.CodeServerError {
				t.Errorf("err = %v, want retryable %s", err, datadog.CodeServerError)
			}
			if got := len(in.ids()); got != tt.wantIDs {
				t.Errorf("%d events accepted, want %d", got, tt.wantIDs)
			}
		})
	}
}

func TestSendStatuses(t *testing.T) {
	tests := []struct {
		give          int
		wantPermanent bool
		wantKind      latch.ErrorKind
	}{
		{give: 400, wantPermanent: true, wantKind: latch.KindInvalid},
		{give: 401, wantPermanent: true, wantKind: latch.KindUnauthorized},
		{give: 403, wantPermanent: true, wantKind: latch.KindUnauthorized},
		{give: 404, wantPermanent: true, wantKind: latch.KindInvalid},
		{give: 308, wantPermanent: true, wantKind: latch.KindInvalid},
		{give: 408, wantKind: latch.KindInternal},
		{give: 413, wantKind: latch.KindInternal},
		{give: 429, wantKind: latch.KindTooMany},
		{give: 500, wantKind: latch.KindInternal},
		{give: 502, wantKind: latch.KindInternal},
		{give: 503, wantKind: latch.KindInternal},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.give), func(t *testing.T) {
			in := newIntake(t)
			in.answer(tt.give)
			s := newSink(t, in)
			err := s.Send(context.Background(), audittest.Events(2))
			if err == nil {
				t.Fatal("Send = nil")
			}
			var pe *audit.PartialError
			if errors.As(err, &pe) {
				t.Errorf("a failed single call gives a PartialError: %v", err)
			}
			if latch.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v: %v", latch.IsPermanent(err), tt.wantPermanent, err)
			}
			if got := latch.ErrorKindOf(err); got != tt.wantKind {
				t.Errorf("kind = %s, want %s", got, tt.wantKind)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tt.give)) {
				t.Errorf("err does not give the status: %v", err)
			}
		})
	}
}

func TestSendWrongAPIKeyIsPermanent(t *testing.T) {
	in := newIntake(t)
	s := newSink(t, in, func(c *datadog.Config) { c.APIKey = "ffffffffffffffffffffffffffffffff" })
	err := s.Send(context.Background(), audittest.Events(3))
	if !latch.IsPermanent(err) || latch.ErrorCodeOf(err) != datadog.CodeRejected {
		t.Fatalf("Send = %v, want permanent %s", err, datadog.CodeRejected)
	}
	for _, want := range []string{"403 Forbidden", "API key is invalid", "APIKey", "Site"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "ffffffff") {
		t.Errorf("err shows the API key: %v", err)
	}
	if diff := cmp.Diff([]int{0, 1, 2}, audit.Failed(err, 3)); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
}

func TestSendTimeoutIsRetryable(t *testing.T) {
	in := newIntake(t)
	in.hang = true
	s := newSink(t, in, func(c *datadog.Config) { c.Timeout = 50 * time.Millisecond })
	err := s.Send(context.Background(), audittest.Events(2))
	if err == nil || latch.IsPermanent(err) || latch.ErrorCodeOf(err) != datadog.CodeTimeout {
		t.Fatalf("Send = %v, want retryable %s", err, datadog.CodeTimeout)
	}
}

func TestSendUnreachableIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := datadog.New(datadog.Config{Endpoint: "http://" + addr, APIKey: apiKey})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), audittest.Events(1))
	if err == nil || latch.IsPermanent(err) || latch.ErrorCodeOf(err) != datadog.CodeUnreachable {
		t.Fatalf("Send = %v, want retryable %s", err, datadog.CodeUnreachable)
	}
}

func TestSendContextDone(t *testing.T) {
	in := newIntake(t)
	s := newSink(t, in)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, audittest.Events(1500))
	if !errors.Is(err, context.Canceled) || latch.IsPermanent(err) {
		t.Fatalf("Send = %v, want context.Canceled, retryable", err)
	}
	if len(audit.Failed(err, 1500)) != 1500 || len(in.accepted()) != 0 {
		t.Errorf("failed %d, calls %d", len(audit.Failed(err, 1500)), len(in.accepted()))
	}
}

func TestSendMixedFailuresAreRetryable(t *testing.T) {
	// One event can never be sent and the call for the others fails with a
	// 500: every event failed, and the error is retryable (the retry of the
	// others may succeed; the bad event then fails alone, permanently).
	in := newIntake(t)
	in.answer(500)
	s := newSink(t, in)
	evs := audittest.Events(3)
	evs[0].Data = map[string]any{"x": math.NaN()}
	err := s.Send(context.Background(), evs)
	if err == nil || latch.IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
	if diff := cmp.Diff([]int{0, 1, 2}, audit.Failed(err, 3)); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
}

func TestSendNothing(t *testing.T) {
	in := newIntake(t)
	if err := newSink(t, in).Send(context.Background(), nil); err != nil || len(in.accepted()) != 0 {
		t.Errorf("Send(nil) = %v with %d calls", err, len(in.accepted()))
	}
}

func TestSendConcurrent(t *testing.T) {
	in := newIntake(t)
	s := newSink(t, in)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := audittest.Events(30)
			for i := range evs {
				evs[i].ID = fmt.Sprintf("g%d/%d", g, i)
			}
			if err := s.Send(context.Background(), evs); err != nil {
				t.Errorf("Send: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := len(in.ids()); got != 240 {
		t.Errorf("%d logs, want 240", got)
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		name string
		give audit.Event
		want string
	}{
		{name: "person", give: audit.Event{Type: "approved", RequestID: "r1", Target: "db", Actor: audit.Actor{Email: "a@example.com"}},
			want: "approved request r1 on db by a@example.com"},
		{name: "bot for a person", give: audit.Event{Type: "requested", RequestID: "r1", Actor: audit.Actor{Email: "a@example.com", Bot: "ci"}},
			want: "requested request r1 by bot ci for a@example.com"},
		{name: "bot alone", give: audit.Event{Type: "cancelled", RequestID: "r1", Actor: audit.Actor{Bot: "ci"}},
			want: "cancelled request r1 by bot ci"},
		{name: "latch itself", give: audit.Event{Type: "escalated", RequestID: "r1", Target: "db", Actor: audit.Actor{System: true}},
			want: "escalated request r1 on db by latch"},
		{name: "no request", give: audit.Event{Type: "role_changed", Actor: audit.Actor{Email: "admin@example.com"}},
			want: "role_changed by admin@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := datadog.Message(tt.give); got != tt.want {
				t.Errorf("Message = %q, want %q", got, tt.want)
			}
		})
	}
}
