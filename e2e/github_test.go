package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/escalator/github/githubfake"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

func githubFlow(apiURL string) string {
	return `name: gh-access
allow_revoke: true
schedule_deescalation: true
fields:
  - {name: duration, type: duration, default: 1h}
approval:
  approvers: [alice@example.com]
identity:
  lookup_by_email: true
strategy:
  type: github
  org: acme
  token_env: LATCH_GITHUB_TOKEN
  api_url: ` + apiURL + `
  targets:
    - {id: api-write, label: Push to acme/api, settings: {repo: api, permission: push}}
`
}

// The github strategy through latch server: the login is found by the
// requester's verified organisation email; a grant makes them a direct
// collaborator; the grant's end removes them, confirmed by a check; the
// reconciler restores a collaborator removed by hand during a grant.
func TestGitHubThroughServer(t *testing.T) {
	fake := githubfake.New(t)
	fake.Lock()
	fake.Members["jane-gh"] = []string{"jane@example.com"}
	fake.Members["bob-gh"] = []string{"bob@example.com"}
	fake.Repos["api"] = map[string]string{}
	fake.Unlock()
	collaborator := func(login string) string {
		fake.Lock()
		defer fake.Unlock()
		return fake.Repos["api"][login]
	}
	srv := startServerEnv(t, []string{"LATCH_GITHUB_TOKEN=github_pat_good"},
		writeFlows(t, map[string]string{"gh.yaml": githubFlow(fake.URL)}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	request := func(email string, seconds int) latch.Request {
		t.Helper()
		req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "gh-access", UserEmail: email, Fields: map[string]any{"duration": seconds}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
			t.Fatal(err)
		}
		return req
	}

	req := request("jane@example.com", 3)
	waitStatus(t, c, req.ID, latch.StatusActive, 30*time.Second)
	if got := collaborator("jane-gh"); got != "push" {
		t.Fatalf("active, but jane-gh's permission on acme/api is %q", got)
	}
	waitStatus(t, c, req.ID, latch.StatusEnded, 90*time.Second)
	if got := collaborator("jane-gh"); got != "" {
		t.Fatalf("ended, but jane-gh is still a collaborator (%s)", got)
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
		t.Errorf("no deescalated event with verified: true in %+v", evs)
	}

	// Drift: bob's collaborator is removed by hand during his grant.
	bob := request("bob@example.com", 3600)
	waitStatus(t, c, bob.ID, latch.StatusActive, 30*time.Second)
	fake.Lock()
	delete(fake.Repos["api"], "bob-gh")
	fake.Unlock()
	rep, err := c.Reconcile(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || collaborator("bob-gh") != "push" {
		t.Errorf("reconcile findings %+v, bob-gh %q; want bob-gh restored with push", rep.Findings, collaborator("bob-gh"))
	}
}

// `latch flows validate` asks GitHub whether each target's repository
// exists, with the token the flow names.
func TestGitHubFlowsValidate(t *testing.T) {
	fake := githubfake.New(t)
	dir := writeFlows(t, map[string]string{"gh.yaml": githubFlow(fake.URL)})
	cmd := exec.Command(latchBin, "flows", "validate", dir)
	cmd.Env = append(cmd.Environ(), "LATCH_GITHUB_TOKEN=github_pat_good")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "acme/api") || !strings.Contains(string(out), "gh.yaml") {
		t.Fatalf("flows validate with a missing repository: %v\n%s", err, out)
	}
	fake.Lock()
	fake.Repos["api"] = map[string]string{}
	fake.Unlock()
	cmd = exec.Command(latchBin, "flows", "validate", dir)
	cmd.Env = append(cmd.Environ(), "LATCH_GITHUB_TOKEN=github_pat_good")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("flows validate: %v\n%s", err, out)
	}
	if n := fake.Count("GET /api/v3/repos/acme/api"); n != 2 {
		t.Errorf("%d reads of the repository, want 2", n)
	}
}
