package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// cli runs the latch CLI against srv and returns stdout, stderr and the exit code.
func cli(t *testing.T, srv *server, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(latchBin, args...)
	cmd.Env = append(os.Environ(), "LATCH_URL="+srv.URL, "LATCH_TOKEN="+adminToken)
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

func TestCLI(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	if !srv.logged("no email domains are configured") {
		t.Errorf("a server started without domains did not warn that everyone joins as a member")
	}

	out, stderr, code := cli(t, srv, "request", "prod-access", "--user", "bob@example.com",
		"--field", "reason=incident 7", "--field", "duration=30m", "--context", `{"ticket":"INC-7"}`, "--json")
	if code != 0 {
		t.Fatalf("request: exit %d\n%s", code, stderr)
	}
	var r latch.Request
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("request --json printed %q: %v", out, err)
	}
	if r.Status != latch.StatusPending || r.Duration != 1800 || r.Context["ticket"] != "INC-7" {
		t.Errorf("created = %s, %ds, context %v; want pending, 1800s, the ticket", r.Status, r.Duration, r.Context)
	}

	if _, stderr, code := cli(t, srv, "approve", r.ID, "--as", "bob@example.com"); code != 4 || !strings.Contains(stderr, "self_approval") {
		t.Errorf("self-approval: exit %d, stderr %q; want 4 naming self_approval", code, stderr)
	}
	if out, stderr, code := cli(t, srv, "approve", r.ID, "--as", "alice@example.com", "--reason", "ok"); code != 0 || !strings.Contains(out, "escalating") && !strings.Contains(out, "active") {
		t.Errorf("approve: exit %d, out %q, stderr %q", code, out, stderr)
	}
	tg.next(10 * time.Second)
	waitStatus(t, srv.client(), r.ID, latch.StatusActive, 5*time.Second)

	out, _, code = cli(t, srv, "list", "--status", "active")
	if code != 0 || !strings.Contains(out, r.ID) {
		t.Errorf("list --status active: exit %d, out %q; want the request", code, out)
	}
	out, _, code = cli(t, srv, "audit", r.ID)
	if code != 0 || !strings.Contains(out, "approved") || !strings.Contains(out, "alice@example.com") {
		t.Errorf("audit: exit %d, out %q; want the approval by alice", code, out)
	}
	if _, stderr, code := cli(t, srv, "get", "req_nope"); code != 3 || !strings.Contains(stderr, "request_not_found") {
		t.Errorf("get unknown: exit %d, stderr %q; want 3", code, stderr)
	}
	if _, stderr, code := cli(t, srv, "request", "prod-access", "--user", "bob@example.com"); code != 2 || !strings.Contains(stderr, "reason") {
		t.Errorf("request without the required field: exit %d, stderr %q; want 2 naming the field", code, stderr)
	}
}

// request --wait follows the request until it is decided; a denial exits 6
// with the reason.
func TestCLIWait(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()

	for _, tt := range []struct {
		name     string
		action   string
		wantCode int
		wantErr  string
	}{
		{"approved", "approve", 0, "is active"},
		{"denied", "deny", 6, "was denied: not today"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				stderr string
				code   int
			}
			done := make(chan result, 1)
			user := tt.name + "@example.com"
			go func() {
				_, stderr, code := cli(t, srv, "request", "prod-access", "--user", user, "--field", "reason=wait test", "--wait", "--timeout", "30s")
				done <- result{stderr, code}
			}()
			var id string
			deadline := time.Now().Add(10 * time.Second)
			for id == "" && time.Now().Before(deadline) {
				rs, err := c.ListRequests(ctx, latch.RequestFilter{User: user})
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) == 1 {
					id = rs[0].ID
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if id == "" {
				t.Fatal("the waiting request never appeared")
			}
			if _, err := c.Act(ctx, id, tt.action, httpapi.ActionBody{As: "alice@example.com", Reason: "not today"}); err != nil {
				t.Fatal(err)
			}
			select {
			case res := <-done:
				if res.code != tt.wantCode || !strings.Contains(res.stderr, tt.wantErr) {
					t.Errorf("request --wait: exit %d, stderr %q; want %d and %q", res.code, res.stderr, tt.wantCode, tt.wantErr)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("request --wait did not return")
			}
		})
	}
}
