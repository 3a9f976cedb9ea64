package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/strategies"
)

func TestInitWritesStarterFlowsThatLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "flows")
	written, err := writeStarterFlows(dir, []string{"lead@example.com", "ops@example.com"}, "#ops")
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 {
		t.Fatalf("wrote %v, want two flows", written)
	}
	loaded, err := flows.Load(dir, strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, f := range loaded {
		kinds[f.Name] = f.Strategy != nil
		if f.Approval.Channel != "#ops" || len(f.Approval.Approvers) != 2 || f.Approval.Approvers[1] != "ops@example.com" {
			t.Errorf("%s: approval %+v, want #ops and both approvers", f.Name, f.Approval)
		}
	}
	if access, ok := kinds["prod-access"]; !ok || !access || kinds["deploy-approval"] {
		t.Errorf("flows %v, want an access flow and an approval-only flow", kinds)
	}

	// Nothing is overwritten.
	if err := os.WriteFile(written[0], []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := writeStarterFlows(dir, []string{"lead@example.com"}, "#ops"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second init: %v, want a refusal naming the existing file", err)
	}
	if b, _ := os.ReadFile(written[0]); string(b) != "mine" {
		t.Errorf("init overwrote %s", written[0])
	}
	if _, err := writeStarterFlows(t.TempDir(), []string{"not an email"}, "#ops"); err == nil {
		t.Errorf("a bad --approver was accepted")
	}
}

// latch slack manifest refuses a URL Slack would not call.
func TestSlackManifestRefusesPlainHTTP(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr bool
	}{
		{[]string{"manifest", "--url", "http://latch.example.com"}, true},
		{[]string{"manifest", "--url", "latch.example.com"}, true},
		{[]string{"manifest", "--url", "https://latch.example.com"}, false},
		{[]string{"manifest", "--socket-mode"}, false},
	} {
		cmd := newSlackCmd()
		var out strings.Builder
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		if (err != nil) != tt.wantErr {
			t.Errorf("%v: error %v, want error %v", tt.args, err, tt.wantErr)
		}
		if !tt.wantErr && !strings.Contains(out.String(), "Request access") {
			t.Errorf("%v: manifest %q lacks the shortcut", tt.args, out.String())
		}
	}
}

// latch init --strategy github writes the approval-only flow and a github
// access flow that loads with the github strategy's checks; an unknown
// strategy is refused with the list of those that have a starter.
func TestInitStrategyGitHub(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "flows")
	written, err := writeStarterFlowsFor(dir, "github", []string{"lead@example.com"}, "#ops")
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 || filepath.Base(written[1]) != "github-access.yaml" {
		t.Fatalf("wrote %v, want deploy-approval.yaml and github-access.yaml", written)
	}
	loaded, err := flows.Load(dir, strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range loaded {
		if f.Strategy != nil && f.Strategy.Type == "github" && f.Approval.Channel == "#ops" && f.Identity.LookupByEmail {
			found = true
		}
	}
	if !found {
		t.Errorf("no github access flow with the channel and the email lookup among %d flows", len(loaded))
	}
	if _, err := writeStarterFlowsFor(t.TempDir(), "nope", []string{"lead@example.com"}, "#ops"); err == nil ||
		!strings.Contains(err.Error(), "webhook, github") {
		t.Errorf("--strategy nope: %v, want the strategies with a starter", err)
	}

	cmd := newInitCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{filepath.Join(t.TempDir(), "f"), "--strategy", "github"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "github-access.yaml") || !strings.Contains(out.String(), "docs/strategies/github.md") {
		t.Errorf("latch init --strategy github said %q", out.String())
	}
}
