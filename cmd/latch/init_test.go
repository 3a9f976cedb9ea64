package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies"
)

func TestInitWritesStarterFlowsThatLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "flows")
	written, err := writeStarterFlows(dir, []string{"lead@example.com", "ops@example.com"}, "#ops", "webhook")
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
	if _, err := writeStarterFlows(dir, []string{"lead@example.com"}, "#ops", "webhook"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second init: %v, want a refusal naming the existing file", err)
	}
	if b, _ := os.ReadFile(written[0]); string(b) != "mine" {
		t.Errorf("init overwrote %s", written[0])
	}
	if _, err := writeStarterFlows(t.TempDir(), []string{"not an email"}, "#ops", "webhook"); err == nil {
		t.Errorf("a bad --approver was accepted")
	}
}

// latch init --strategy okta writes the okta starter access flow, which
// loads and whose escalator builds once the token it names is set; an
// unknown strategy is refused with the list.
func TestInitWithAStrategy(t *testing.T) {
	if !slices.Contains(starterChoices(), "okta") {
		t.Fatalf("starter strategies %v lack okta", starterChoices())
	}
	dir := filepath.Join(t.TempDir(), "flows")
	cmd := newInitCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{dir, "--strategy", "okta", "--approver", "lead@example.com"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"okta-access.yaml", "docs/strategies/okta.md", "latch flows validate --strict " + dir} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "prod-access.yaml")); err == nil {
		t.Error("the webhook access flow was written too")
	}
	loaded, err := flows.Load(dir, strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	var access *latch.Flow
	for _, f := range loaded {
		if f.Strategy != nil {
			access = f
		}
	}
	if access == nil || access.Strategy.Type != "okta" || access.Approval.Approvers[0] != "lead@example.com" {
		t.Fatalf("access flow %+v, want an okta flow approved by lead@example.com", access)
	}
	if unset := environmentProblems(loaded, func(string) (string, bool) { return "", false }); len(unset) != 1 || !strings.Contains(unset[0], "OKTA_API_TOKEN") {
		t.Errorf("environment problems %v, want the unset OKTA_API_TOKEN", unset)
	}
	if unset := environmentProblems(loaded, func(k string) (string, bool) { return "tok", k == "OKTA_API_TOKEN" }); len(unset) != 0 {
		t.Errorf("with the token set: %v", unset)
	}
	if _, err := writeStarterFlows(t.TempDir(), []string{"lead@example.com"}, "#ops", "nosuch"); err == nil || !strings.Contains(err.Error(), "okta") {
		t.Errorf("an unknown strategy: %v, want a refusal listing the strategies", err)
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

// latch init --strategy tailscale writes a tailscale access flow in place of
// the webhook one, which loads; an unknown strategy is refused.
func TestInitStrategyGitHub(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "flows")
	written, err := writeStarterFlows(dir, []string{"lead@example.com"}, "#ops", "github")
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

func TestInitTailscaleStarter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "flows")
	written, err := writeStarterFlows(dir, []string{"lead@example.com"}, "#ops", "tailscale")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "deploy-approval.yaml"), filepath.Join(dir, "tailscale-access.yaml")}
	if strings.Join(written, " ") != strings.Join(want, " ") {
		t.Fatalf("wrote %v, want %v", written, want)
	}
	loaded, err := flows.Load(dir, strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range loaded {
		if f.Strategy != nil {
			found = true
			if f.Strategy.Type != "tailscale" || f.Strategy.Targets[0].Settings["group"] != "prod-ssh" || f.Approval.Channel != "#ops" {
				t.Errorf("%s: strategy %+v, channel %s", f.Name, f.Strategy, f.Approval.Channel)
			}
		}
	}
	if !found {
		t.Error("no access flow")
	}

	cmd := newInitCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--strategy", "tailscale", filepath.Join(t.TempDir(), "f")})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "policy_file") || strings.Contains(out.String(), "webhook listen") {
		t.Errorf("next steps %q are not the tailscale ones", out.String())
	}
	if _, err := writeStarterFlows(t.TempDir(), []string{"lead@example.com"}, "#ops", "nope"); err == nil ||
		!strings.Contains(err.Error(), "github, okta, tailscale, webhook") {
		t.Errorf("an unknown strategy: %v, want a refusal listing the choices", err)
	}
}
