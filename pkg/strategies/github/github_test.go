package github_test

import (
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/escalator/github"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies"
)

// TestGitHubEntry loads the github example flow with the registry's checks,
// reports a bad target setting on its own line, and builds the escalator
// with the token the flow names (and not without it).
func TestGitHubEntry(t *testing.T) {
	const file = "../../../flows/examples/github.yaml"
	f, err := flows.LoadFile(file, strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	if f.Strategy == nil || f.Strategy.Type != github.Type || len(f.Strategy.Targets) != 3 {
		t.Fatalf("strategy = %+v, want github with three targets", f.Strategy)
	}
	s, ok := strategies.Get(github.Type)
	if !ok || !s.Validates || s.Timeout != github.Timeout {
		t.Fatalf("registry entry = %+v, %v; want one that validates targets", s, ok)
	}
	const bad = `name: gh
approval: {approvers: [a@example.com]}
strategy:
  type: github
  org: acme
  token_env: LATCH_GITHUB_TOKEN
  targets: [{id: api, settings: {repo: api, permission: write}}]
`
	if _, err := flows.Parse("gh.yaml", []byte(bad), strategies.FlowOptions()); err == nil ||
		!strings.Contains(err.Error(), "gh.yaml:") || !strings.Contains(err.Error(), `calls it "push"`) {
		t.Errorf("permission write: %v, want the file, line and the REST name", err)
	}

	if _, err := (&strategies.Escalators{}).For(f); err == nil || !strings.Contains(err.Error(), "LATCH_GITHUB_TOKEN") {
		t.Errorf("building without the token: %v, want an error naming LATCH_GITHUB_TOKEN", err)
	}
	esc, err := (&strategies.Escalators{LookupEnv: func(k string) (string, bool) {
		return "github_pat_x", k == "LATCH_GITHUB_TOKEN"
	}}).For(f)
	if err != nil {
		t.Fatal(err)
	}
	if !latch.Checks(esc) {
		t.Errorf("the github escalator %T cannot check", esc)
	}
	for _, ability := range []bool{isValidator(esc), isLookup(esc)} {
		if !ability {
			t.Errorf("the github escalator %T lacks Validate or LookupIdentity", esc)
		}
	}
}

func isValidator(e latch.Escalator) bool { _, ok := e.(latch.Validator); return ok }
func isLookup(e latch.Escalator) bool    { _, ok := e.(latch.IdentityLookup); return ok }
