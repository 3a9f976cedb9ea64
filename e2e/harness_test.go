// Package e2e drives a real `latch server` process over HTTP, with a fake
// webhook target that verifies Latch's signatures like a customer would.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing"
)

const (
	adminToken    = "e2e-admin-token-0123456789"
	webhookSecret = "e2e-webhook-secret"
	hookSecret    = "e2e-hook-secret"
)

var latchBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	latchBin = filepath.Join(dir, "latch")
	build := exec.Command("go", "build", "-race", "-o", latchBin, "../cmd/latch")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build latch:", err)
		os.Exit(1)
	}
	api, err := loadAPIDoc(openAPIFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.DefaultClient.Transport = apiCalls
	code := m.Run()
	if !api.report(os.Stderr, apiCalls.recorded()) && code == 0 {
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// hookCall is one call the fake webhook target received.
type hookCall struct {
	At     time.Time
	Action string
	Body   map[string]any
	Header http.Header
}

// target is a fake webhook target: it verifies each call's signature and
// records it. Status sets the answer (200 unless changed).
type target struct {
	t      testing.TB
	srv    *httptest.Server
	calls  chan hookCall
	mu     sync.Mutex
	status int
}

func newTarget(t testing.TB) *target {
	t.Helper()
	tg := &target{t: t, calls: make(chan hookCall, 100), status: http.StatusOK}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := signing.Verify(r.Header, body, []byte(webhookSecret), time.Now(), signing.DefaultTolerance); err != nil {
			t.Errorf("webhook call with a bad signature: %v", err)
			http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("webhook body is not JSON: %v", err)
		}
		action, _ := m["action"].(string)
		tg.calls <- hookCall{At: time.Now(), Action: action, Body: m, Header: r.Header.Clone()}
		tg.mu.Lock()
		status := tg.status
		tg.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) setStatus(code int) {
	tg.mu.Lock()
	tg.status = code
	tg.mu.Unlock()
}

// next waits for the next call, failing the test after timeout.
func (tg *target) next(timeout time.Duration) hookCall {
	tg.t.Helper()
	select {
	case c := <-tg.calls:
		return c
	case <-time.After(timeout):
		tg.t.Fatalf("no webhook call within %s", timeout)
		return hookCall{}
	}
}

// none checks that no call arrives within d.
func (tg *target) none(d time.Duration) {
	tg.t.Helper()
	select {
	case c := <-tg.calls:
		tg.t.Fatalf("unexpected webhook call: %s %v", c.Action, c.Body)
	case <-time.After(d):
	}
}

// webhookFlow is a flow whose strategy calls url.
func webhookFlow(url string) string {
	return `name: prod-access
label: Production access
additional_header_text: "Access is logged."
sources: [slack, api]
allow_revoke: true
schedule_deescalation: true
fields:
  - {name: reason, type: string, label: Why do you need access?, required: true}
  - {name: duration, type: duration, default: 1h}
approval:
  channel: "#access-requests"
  approvers: [alice@example.com]
  rule: 'approver.email.endsWith("@approvers.example.com")'
  quorum: 1
  allow_self_approval: false
  timeout: 1h
strategy:
  type: webhook
  url: ` + url + `
  secret_env: LATCH_WEBHOOK_SECRET
  targets:
    - {id: prod-db, label: Production database, settings: {role: readonly}}
`
}

// server is a running `latch server` process.
type server struct {
	t       testing.TB
	URL     string
	dataDir string
	flowDir string
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeFlows makes a flows directory holding the given files.
func writeFlows(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startServer starts latch server on a free port and waits until it
// listens. extra are more flags for the server.
func startServer(t testing.TB, flowDir, dataDir string, extra ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, flowDir, dataDir, extra...)
}

// startServerEnv is startServer with more environment variables (NAME=value).
func startServerEnv(t testing.TB, env []string, flowDir, dataDir string, extra ...string) *server {
	t.Helper()
	return startServerVia(t, nil, env, flowDir, dataDir, extra...)
}

// startServerVia is startServerEnv run through a command that executes the
// rest of its arguments in its place (such as prlimit), when via is set.
func startServerVia(t testing.TB, via, env []string, flowDir, dataDir string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, flowDir: flowDir, dataDir: dataDir, logs: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"server", "--addr", "127.0.0.1:0", "--data", dataDir, "--flows", flowDir, "--log-level", "debug",
		"--rate-limit", "1000"}, extra...)
	argv := append(append(via[:len(via):len(via)], latchBin), args...)
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = append(os.Environ(), "LATCH_ADMIN_TOKEN="+adminToken, "LATCH_WEBHOOK_SECRET="+webhookSecret, "LATCH_HOOK_SECRET="+hookSecret)
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stderr = s.logs
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "latch: listening on "); ok {
				urlc <- u
			}
		}
	}()
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	select {
	case s.URL = <-urlc:
		apiCalls.track(s.URL)
	case <-s.exited:
		t.Fatalf("latch server exited before listening:\n%s", s.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("latch server did not start listening:\n%s", s.logs.String())
	}
	return s
}

// logged reports whether the server's log holds text within a few
// seconds. The log is copied from the process by a goroutine of its own,
// so a line printed before "listening" may arrive after it.
func (s *server) logged(text string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.logs.String(), text) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// stop ends the server gracefully.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// kill ends the server with SIGKILL, as a crash would.
func (s *server) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Fatal(err)
	}
	<-s.exited
}

func (s *server) client() *client.Client { return client.New(s.URL, adminToken) }

// waitStatus polls the request until it reaches want, failing after timeout.
func waitStatus(t testing.TB, c *client.Client, id string, want latch.Status, timeout time.Duration) latch.Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := c.GetRequest(context.Background(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if r.Status == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %s, want %s after %s", id, r.Status, want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditTypes lists the types of a request's audit events, in order.
func auditTypes(t testing.TB, c *client.Client, id string) []latch.AuditType {
	t.Helper()
	evs, err := c.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]latch.AuditType, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}
