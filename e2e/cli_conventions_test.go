package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	yaml "go.yaml.in/yaml/v4"
)

// cliEnv runs the CLI with the environment given (and no LATCH_URL or
// LATCH_TOKEN but those in env), and returns stdout, stderr and the exit code.
func cliEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(latchBin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCH_URL=") && !strings.HasPrefix(kv, "LATCH_TOKEN=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// Every exit code of the table in `latch --help` and docs/cli.md, from a
// real command line.
func TestCLIExitCodes(t *testing.T) {
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	pending, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "deploy", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "r"}})
	if err != nil {
		t.Fatal(err)
	}
	denied, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "deploy", UserEmail: "carol@example.com", Fields: map[string]any{"reason": "r"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, denied.ID, "deny", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, denied.ID, latch.StatusDenied, 10*time.Second)
	// A URL where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "http://" + ln.Addr().String()
	ln.Close()

	good := []string{"LATCH_URL=" + srv.URL, "LATCH_TOKEN=" + adminToken}
	for _, tt := range []struct {
		name       string
		env        []string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"success", good, []string{"get", pending.ID}, 0, ""},
		{"an unknown command", good, []string{"lsit"}, 2, `unknown command "lsit"`},
		{"an unknown subcommand", good, []string{"tokens", "mint"}, 2, `unknown command "mint" for "latch tokens"`},
		{"an unknown flag", good, []string{"get", pending.ID, "--nope"}, 2, "unknown flag: --nope"},
		{"a bad flag value", good, []string{"list", "--limit", "many"}, 2, "--limit"},
		{"a missing argument", good, []string{"get"}, 2, "accepts 1 arg(s), received 0"},
		{"a missing required flag", good, []string{"request", "deploy"}, 2, `required flag(s) "user" not set`},
		{"an unknown output format", good, []string{"list", "-o", "xml"}, 2, `-o "xml": use table, json or yaml`},
		{"a flag of another command", good, []string{"server", "--json"}, 2, "unknown flag: --json"},
		{"a URL without a scheme", []string{"LATCH_URL=" + strings.TrimPrefix(srv.URL, "http://"), "LATCH_TOKEN=" + adminToken},
			[]string{"list"}, 2, "has no scheme: write http://"},
		{"input the server refuses", good, []string{"request", "deploy", "--user", "bob@example.com"}, 2, "reason"},
		{"not found", good, []string{"get", "req_nope"}, 3, "request_not_found"},
		{"no token", []string{"LATCH_URL=" + srv.URL}, []string{"list"}, 4, "hint: set LATCH_TOKEN"},
		{"a bad token", []string{"LATCH_URL=" + srv.URL, "LATCH_TOKEN=latch_nope"}, []string{"list"}, 4, "invalid_token"},
		{"forbidden", good, []string{"approve", pending.ID, "--as", "bob@example.com"}, 4, "self_approval"},
		{"conflict", good, []string{"approve", denied.ID, "--as", "alice@example.com"}, 5, "not_pending"},
		{"no server", []string{"LATCH_URL=" + nowhere, "LATCH_TOKEN=" + adminToken}, []string{"get", pending.ID},
			1, "is `latch server` running at " + nowhere},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := cliEnv(t, tt.env, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("latch %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, stderr, tt.wantCode, tt.wantStderr)
			}
		})
	}

	// A validation error says each problem once.
	_, stderr, _ := cliEnv(t, good, "request", "deploy", "--user", "bob@example.com", "--field", "reason=x", "--field", "color=blue")
	if n := strings.Count(stderr, "color"); n != 1 {
		t.Errorf("an unknown field is named %d times, want once:\n%s", n, stderr)
	}
}

// request --wait --timeout withdraws the request when the time is up (exit
// 7), unless --keep leaves it pending.
func TestCLIWaitTimeout(t *testing.T) {
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	c := srv.client()
	for _, tt := range []struct {
		user   string
		extra  []string
		want   latch.Status
		stderr string
	}{
		{"withdrawn@example.com", nil, latch.StatusCancelled, "withdrawn"},
		{"kept@example.com", []string{"--keep"}, latch.StatusPending, "still pending"},
	} {
		args := append([]string{"request", "deploy", "--user", tt.user, "--field", "reason=r", "--wait", "--timeout", "1s"}, tt.extra...)
		_, stderr, code := cli(t, srv, args...)
		if code != 7 || !strings.Contains(stderr, "gave up after 1s") || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("latch %s: exit %d, stderr %q; want 7, giving up, %q", strings.Join(args, " "), code, stderr, tt.stderr)
		}
		rs, err := c.ListRequests(context.Background(), latch.RequestFilter{User: tt.user})
		if err != nil || len(rs) != 1 {
			t.Fatalf("requests of %s: %v, %v", tt.user, rs, err)
		}
		if rs[0].Status != tt.want {
			t.Errorf("%s's request is %s, want %s", tt.user, rs[0].Status, tt.want)
		}
		if tt.want == latch.StatusCancelled && (rs[0].Decision == nil || rs[0].Decision.By.Email != tt.user) {
			t.Errorf("the withdrawal was by %+v, want the person the request is for", rs[0].Decision)
		}
	}
}

// -o json prints the API's own JSON, the same bytes for the same data; -o
// yaml the same document as YAML.
func TestCLIOutput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	out, stderr, code := cli(t, srv, "request", "deploy", "--user", "bob@example.com", "--field", "reason=release", "--context", `{"z":1,"a":2,"m":{"y":1,"b":2}}`, "-o", "json")
	var r latch.Request
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.ID == "" {
		t.Fatalf("request -o json: exit %d, out %q, stderr %q", code, out, stderr)
	}

	out, _, code = cli(t, srv, "list", "-o", "json")
	var list httpapi.RequestList
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Requests) != 1 || list.Requests[0].ID != r.ID {
		t.Errorf("list -o json: exit %d, out %q; want {\"requests\":[the request]} as the API answers", code, out)
	}
	if !strings.HasPrefix(strings.TrimSpace(out), `{`) {
		t.Errorf("list -o json is not an object: %q", out)
	}
	var again string
	for range 5 {
		a, _, _ := cli(t, srv, "get", r.ID, "--json")
		b, _, _ := cli(t, srv, "get", r.ID, "-o", "json")
		if a != b || (again != "" && a != again) {
			t.Fatalf("get -o json printed different bytes for the same request:\n%s\n%s", a, b)
		}
		again = a
	}

	out, _, code = cli(t, srv, "get", r.ID, "-o", "yaml")
	var fromYAML, fromJSON map[string]any
	if code != 0 || yaml.Unmarshal([]byte(out), &fromYAML) != nil || json.Unmarshal([]byte(again), &fromJSON) != nil {
		t.Fatalf("get -o yaml: exit %d, out %q", code, out)
	}
	if fromYAML["id"] != r.ID || fromYAML["status"] != "pending" || len(fromYAML) != len(fromJSON) {
		t.Errorf("get -o yaml = %v, want the JSON's %d keys", fromYAML, len(fromJSON))
	}
	if strings.Index(out, "\nstatus:") < strings.Index(out, "\nflow:") {
		t.Errorf("-o yaml keys are not in the API's order:\n%s", out)
	}

	out, _, code = cli(t, srv, "audit", r.ID, "-o", "json")
	var page httpapi.AuditPage
	if code != 0 || json.Unmarshal([]byte(out), &page) != nil || len(page.Events) == 0 || page.Events[0].Event.Type != "requested" || page.Next == 0 {
		t.Errorf("audit -o json: exit %d, out %q; want the API's page of events", code, out)
	}
	out, _, code = cli(t, srv, "users", "list", "-o", "json")
	var users httpapi.UserList
	if code != 0 || json.Unmarshal([]byte(out), &users) != nil || len(users.Users) == 0 {
		t.Errorf("users list -o json: exit %d, out %q; want {\"users\":[...]}", code, out)
	}
	if out, _, code := cli(t, srv, "domains", "list", "-o", "json"); code != 0 || strings.TrimSpace(out) != "{\n  \"domains\": []\n}" {
		t.Errorf("domains list -o json with none: exit %d, out %q; want an empty list", code, out)
	}
}

// The shell completion asks the server for flow names and request ids.
func TestCLICompletion(t *testing.T) {
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	pending, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "deploy", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "r"}})
	if err != nil {
		t.Fatal(err)
	}
	denied, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "deploy", UserEmail: "carol@example.com", Fields: map[string]any{"reason": "r"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, denied.ID, "deny", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, denied.ID, latch.StatusDenied, 10*time.Second)

	complete := func(args ...string) []string {
		t.Helper()
		out, stderr, code := cli(t, srv, append([]string{"__complete"}, args...)...)
		if code != 0 {
			t.Fatalf("__complete %v: exit %d, %s", args, code, stderr)
		}
		var words []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(line, ":") || strings.HasPrefix(line, "-") {
				continue // the directive; required flags cobra offers too
			}
			w, _, _ := strings.Cut(line, "\t")
			words = append(words, w)
		}
		return words
	}
	if got := complete("request", ""); !slices.Equal(got, []string{"deploy"}) {
		t.Errorf("request <TAB> = %v, want the flow deploy", got)
	}
	if got := complete("approve", ""); !slices.Equal(got, []string{pending.ID}) {
		t.Errorf("approve <TAB> = %v, want only the pending request %s", got, pending.ID)
	}
	if got := complete("get", ""); len(got) != 2 || !slices.Contains(got, pending.ID) || !slices.Contains(got, denied.ID) {
		t.Errorf("get <TAB> = %v, want both requests", got)
	}
	if got := complete("list", "--status", ""); !slices.Contains(got, "pending") || !slices.Contains(got, "deescalating") {
		t.Errorf("list --status <TAB> = %v, want the statuses", got)
	}
	if got := complete("list", "-o", ""); !slices.Equal(got, []string{"table", "json", "yaml"}) {
		t.Errorf("list -o <TAB> = %v", got)
	}
}

// The CLI's create survives a 429 and a connection dropped after the server
// committed the request: it tries again with the same Idempotency-Key, and
// one request is made.
func TestCLIRetriesCreateOnce(t *testing.T) {
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	var mu sync.Mutex
	var keys []string
	var statuses []int
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n := len(keys)
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"code":"rate_limited","message":"Too many calls with this token."}}`))
			return
		}
		out, _ := http.NewRequest(r.Method, srv.URL+r.URL.RequestURI(), bytes.NewReader(body))
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			t.Errorf("forward: %v", err)
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		mu.Lock()
		statuses = append(statuses, resp.StatusCode)
		mu.Unlock()
		if n == 1 {
			// The server committed the request; the answer is lost.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	}))
	defer proxy.Close()

	out, stderr, code := cliEnv(t, []string{"LATCH_URL=" + proxy.URL, "LATCH_TOKEN=" + adminToken},
		"request", "deploy", "--user", "bob@example.com", "--field", "reason=r", "-v", "-o", "json")
	if code != 0 {
		t.Fatalf("request through a flaky proxy: exit %d\n%s", code, stderr)
	}
	var r latch.Request
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 3 || keys[0] == "" || keys[1] != keys[0] || keys[2] != keys[0] {
		t.Errorf("Idempotency-Keys sent %q; want three tries with one key", keys)
	}
	if !strings.Contains(stderr, "Idempotency-Key: "+keys[0]) || !strings.Contains(stderr, "trying again") {
		t.Errorf("-v did not print the key and the retries:\n%s", stderr)
	}
	if !slices.Equal(statuses, []int{202, 202}) {
		t.Errorf("the server answered %v, want 202 twice (the second a replay)", statuses)
	}
	rs, err := srv.client().ListRequests(context.Background(), latch.RequestFilter{})
	if err != nil || len(rs) != 1 || rs[0].ID != r.ID {
		t.Errorf("requests on the server: %d (%v); want one, the one printed", len(rs), err)
	}

	// --idempotency-key names the request: a second call answers with it.
	for range 2 {
		out, stderr, code := cli(t, srv, "request", "deploy", "--user", "carol@example.com", "--field", "reason=r", "--idempotency-key", "build-77", "-o", "json")
		if code != 0 {
			t.Fatalf("request --idempotency-key: exit %d\n%s", code, stderr)
		}
		_ = out
	}
	rs, _ = srv.client().ListRequests(context.Background(), latch.RequestFilter{User: "carol@example.com"})
	if len(rs) != 1 {
		t.Errorf("two calls with one --idempotency-key made %d requests, want 1", len(rs))
	}
}
