package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/escalator/tailscale/tsfake"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

const tsPolicy = `// example.com's tailnet policy file.
{
	"groups": {
		// Latch grants this one.
		"group:prod-ssh": [
			"ops@example.com", // always
		],
	},
	"acls": [
		{"action": "accept", "src": ["group:prod-ssh"], "dst": ["tag:prod:22"]},
	],
}
`

func tsFlow(url, group string) string {
	return `name: ts-access
allow_revoke: true
schedule_deescalation: true
fields:
  - {name: duration, type: duration, default: 1h}
approval:
  approvers: [alice@example.com]
strategy:
  type: tailscale
  tailnet: example.com
  token_env: TS_TOKEN
  api_url: ` + url + `
  targets:
    - {id: prod-ssh, label: SSH to production, settings: {group: ` + group + `}}
`
}

// `latch flows validate` reads the policy file and refuses a group it
// lacks, naming the file and the group.
func TestTailscaleFlowsValidate(t *testing.T) {
	fake := tsfake.New("example.com", []byte(tsPolicy), "tskey-api-e2e")
	url := tsfake.Serve(t, fake)
	dir := writeFlows(t, map[string]string{"ts.yaml": tsFlow(url, "prod-shh")})
	cmd := exec.Command(latchBin, "flows", "validate", dir)
	cmd.Env = append(cmd.Environ(), "TS_TOKEN=tskey-api-e2e")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "group:prod-shh") || !strings.Contains(string(out), "ts.yaml") {
		t.Fatalf("flows validate with a missing group: %v\n%s", err, out)
	}
}

// The tailscale strategy through latch server: a grant adds the login to
// the group, the revoke at the end takes it out (verified) and leaves the
// policy file as it was, byte for byte; drift is repaired; an expired token
// fails the grant with the fix.
func TestTailscaleThroughServer(t *testing.T) {
	fake := tsfake.New("example.com", []byte(tsPolicy), "tskey-api-e2e")
	url := tsfake.Serve(t, fake)
	srv := startServerEnv(t, []string{"TS_TOKEN=tskey-api-e2e"}, writeFlows(t, map[string]string{"ts.yaml": tsFlow(url, "prod-ssh")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	request := func(email string, seconds int) latch.Request {
		t.Helper()
		req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "ts-access", UserEmail: email, Fields: map[string]any{"duration": seconds}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
			t.Fatal(err)
		}
		return req
	}
	in := func(login string) bool { return bytes.Contains(fake.Policy(), []byte(`"`+login+`"`)) }

	// Granted through a concurrent edit of the file.
	fake.EditBeforeNextWrite(func(p []byte) []byte {
		return bytes.Replace(p, []byte(`"acls": [`), []byte("// audited 2026-12\n\t\"acls\": ["), 1)
	})
	req := request("jane@example.com", 3)
	waitStatus(t, c, req.ID, latch.StatusActive, 30*time.Second)
	if !in("jane@example.com") {
		t.Fatalf("active, but the group lacks jane:\n%s", fake.Policy())
	}
	waitStatus(t, c, req.ID, latch.StatusEnded, 90*time.Second)
	want := strings.Replace(tsPolicy, `"acls": [`, "// audited 2026-12\n\t\"acls\": [", 1)
	if got := string(fake.Policy()); got != want {
		t.Fatalf("after the revoke the file is not what it was (with the other edit):\n%s", got)
	}
	evs, err := c.Events(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	var verified bool
	for _, ev := range evs {
		if ev.Type == latch.AuditDeescalated && ev.Data["verified"] == true {
			verified = true
		}
	}
	if !verified {
		t.Errorf("no verified deescalated event in %+v", evs)
	}

	// Drift: bob is taken out by hand during his grant; the reconciler puts
	// him back.
	bob := request("bob@example.com", 3600)
	waitStatus(t, c, bob.ID, latch.StatusActive, 30*time.Second)
	fake.SetPolicy(bytes.Replace(fake.Policy(), []byte("\t\t\t\"bob@example.com\",\n"), nil, 1))
	if in("bob@example.com") {
		t.Fatal("could not take bob out by hand")
	}
	rep, err := c.Reconcile(ctx, false)
	if err != nil || len(rep.Findings) != 1 || rep.Findings[0].Action != "granted_again" {
		t.Fatalf("reconcile: %+v, %v", rep.Findings, err)
	}
	if !in("bob@example.com") {
		t.Error("bob was not put back")
	}

	// An expired token: the grant fails at once, with the fix.
	fake.RevokeToken("tskey-api-e2e")
	carol := request("carol@example.com", 60)
	failed := waitStatus(t, c, carol.ID, latch.StatusFailed, 30*time.Second)
	if failed.Failure == nil || !strings.Contains(failed.Failure.Message, "new API access token") || !strings.Contains(failed.Failure.Message, "TS_TOKEN") {
		t.Errorf("failure = %+v, want the token's fix", failed.Failure)
	}
}
