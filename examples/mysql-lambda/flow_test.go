package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/strategies"
)

// The example's flow loads as Latch loads flows, and its policies are JSON.
func TestExampleFilesAreValid(t *testing.T) {
	b, err := os.ReadFile("flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := flows.Parse("flow.yaml", b, strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range f.Strategy.Targets {
		if _, err := parseSettings(target.Settings); err != nil {
			t.Errorf("target %s: the function would refuse it: %v", target.ID, err)
		}
	}
	for _, name := range []string{"function-role-policy.json", "latch-invoke-policy.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Version string }
		if err := json.Unmarshal(b, &doc); err != nil || doc.Version != "2012-10-17" {
			t.Errorf("%s: %v (version %q)", name, err, doc.Version)
		}
	}
}
