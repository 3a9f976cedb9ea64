package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/latchhq/latch/pkg/sfngrants"
)

// needTool returns the path of a linter, or skips the test saying why
// (fails it when LATCH_REQUIRE_TOOLS is set, as CI and `make test` set it).
func needTool(t *testing.T, name, path, install string) string {
	t.Helper()
	if p, err := exec.LookPath(path); err == nil {
		return p
	}
	if os.Getenv("LATCH_REQUIRE_TOOLS") != "" {
		t.Fatalf("%s is not installed and LATCH_REQUIRE_TOOLS is set; %s", name, install)
	}
	t.Skipf("%s is not installed (%s); skipped", name, install)
	return ""
}

// cfnLint runs cfn-lint on a synthesized template: no errors (warnings and
// informational findings are printed, not failed on).
func cfnLint(t *testing.T, template string) {
	t.Helper()
	bin := needTool(t, "cfn-lint", "cfn-lint", "pip install cfn-lint==1.51.0")
	out, err := exec.Command(bin, "--format", "parseable", "--non-zero-exit-code", "error", "--", template).CombinedOutput()
	if err != nil {
		t.Errorf("cfn-lint %s: %v\n%s", filepath.Base(template), err, out)
	} else if len(out) > 0 {
		t.Logf("cfn-lint warnings of %s:\n%s", filepath.Base(template), out)
	}
}

// The grant state machine's definition, with the resources a deployment
// puts in it, is valid Amazon States Language.
func TestStateMachineDefinitionIsValidASL(t *testing.T) {
	bin := needTool(t, "asl-validator", filepath.Join("_tools", "asl-validator", "node_modules", ".bin", "asl-validator"),
		"make tools installs it (_tools/asl-validator)")
	asl, err := sfngrants.Definition(sfngrants.Resources{
		GrantTaskFunction:  "arn:aws:lambda:" + testRegion + ":" + testAccount + ":function:Latch-Granttasks",
		DeadLetterQueueURL: "https://sqs." + testRegion + ".amazonaws.com/" + testAccount + "/Latch-GrantsDLQ",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "grants.asl.json")
	if err := os.WriteFile(path, []byte(asl), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--json-path", path).CombinedOutput()
	if err != nil {
		t.Errorf("asl-validator: %v\n%s", err, out)
	}
}
