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
