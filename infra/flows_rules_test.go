package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The synth compiles the flows' rules as the functions do: a rule that does
// not compile fails it with the file and line (the functions that evaluate
// no rule never compile them, so the synth is where a bad one is caught).
func TestSynthRefusesARuleThatDoesNotCompile(t *testing.T) {
	dir := t.TempDir()
	flow := `name: prod
approval:
  approvers: [lead@example.com]
  rule: approver.rol == "admin"
strategy:
  type: webhook
  url: https://hooks.example.com/latch
  secret_env: HOOK_SECRET
  targets: [{id: db}]
`
	if err := os.WriteFile(filepath.Join(dir, "prod.yaml"), []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := loadFlows(dir, []string{"webhook"})
	if err == nil || !strings.Contains(err.Error(), "prod.yaml:4") || !strings.Contains(err.Error(), "does not compile") {
		t.Fatalf("loadFlows: %v, want prod.yaml:4 and the rule's compile error", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prod.yaml"), []byte(strings.Replace(flow, "approver.rol ", "approver.role ", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadFlows(dir, []string{"webhook"}); err != nil {
		t.Fatalf("a good rule: %v", err)
	}
}
