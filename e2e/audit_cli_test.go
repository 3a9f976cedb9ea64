package e2e

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/httpapi"
)

func TestAuditCLI(t *testing.T) {
	t.Parallel()
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	create := func(user string) string {
		t.Helper()
		r, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "deploy", UserEmail: user, Fields: map[string]any{"reason": "release"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	bob, carol := create("bob@example.com"), create("carol@example.com")
	if _, err := c.Act(ctx, bob, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, carol, "deny", httpapi.ActionBody{As: "alice@example.com", Reason: "not today"}); err != nil {
		t.Fatal(err)
	}

	out, stderr, code := cli(t, srv, "audit", "--user", "carol@example.com", "--format", "jsonl")
	if code != 0 {
		t.Fatalf("audit --user: exit %d: %s", code, stderr)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e audit.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("jsonl line %q: %v", line, err)
		}
		if e.RequestID != carol || e.SchemaVersion != 1 {
			t.Errorf("event %+v is not one of carol's in schema 1", e)
		}
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "requested,denied" {
		t.Errorf("carol's events = %v, want requested, denied", types)
	}

	out, _, code = cli(t, srv, "audit", "--type", "denied", "--since", "1h", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 2 || rows[0][0] != "id" || rows[1][2] != "denied" || rows[1][10] != "not today" {
		t.Errorf("audit --type denied --format csv: exit %d, %v, rows %v; want a header and carol's denial", code, err, rows)
	}
	if out, _, code := cli(t, srv, "audit", bob); code != 0 || !strings.Contains(out, "approved") || strings.Contains(out, carol) {
		t.Errorf("audit REQUEST_ID: exit %d:\n%s\nwant only bob's trail", code, out)
	}
	if _, stderr, code := cli(t, srv, "audit", "--since", "yesterday"); code != 2 || !strings.Contains(stderr, "--since") {
		t.Errorf("a bad --since: exit %d, %q; want 2", code, stderr)
	}

	// Follow: a decision made while following shows up.
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	follow := exec.CommandContext(fctx, latchBin, "audit", "-f", "--type", "approved", "--format", "jsonl")
	follow.Env = append(os.Environ(), "LATCH_URL="+srv.URL, "LATCH_TOKEN="+adminToken)
	pipe, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = follow.Process.Kill(); _ = follow.Wait() }()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	first := <-lines
	if !strings.Contains(first, bob) {
		t.Fatalf("follow printed %q first, want bob's approval", first)
	}
	dave := create("dave@example.com")
	if _, err := c.Act(ctx, dave, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-lines:
		if !strings.Contains(line, dave) || !strings.Contains(line, `"approved"`) {
			t.Errorf("follow printed %q, want dave's approval", line)
		}
	case <-fctx.Done():
		t.Fatal("follow did not print the new approval")
	}
}
