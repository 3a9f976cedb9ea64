package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command line in-process and returns stdout, stderr and
// the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRoot()
	var out, errb strings.Builder
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	_, err := root.ExecuteContextC(context.Background())
	if err != nil {
		errb.WriteString("latch: " + message(err) + "\n")
		return out.String(), errb.String(), exitCode(err)
	}
	return out.String(), errb.String(), 0
}

const webhookFlowText = `name: prod-access
approval:
  approvers: [lead@example.com]
strategy:
  type: webhook
  url: https://hooks.example.com/latch
  secret_env: LATCH_TEST_WEBHOOK_SECRET
  targets:
    - {id: db, label: Database}
`

func TestFlowsValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deploy := write("ok/deploy.yaml", "name: deploy\napproval:\n  approvers: [lead@example.com]\n")
	prod := write("ok/prod.yaml", webhookFlowText)
	broken := write("bad/broken.yaml", "name: broken\napproval:\n  quorum: 0\n  approvers: [lead@example.com]\n")
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LATCH_TEST_WEBHOOK_SECRET", "")
	os.Unsetenv("LATCH_TEST_WEBHOOK_SECRET")

	for _, tt := range []struct {
		name       string
		args       []string
		env        string // LATCH_TEST_WEBHOOK_SECRET, if not empty
		wantCode   int
		wantOut    string
		wantStderr string
	}{
		{"files, as a pre-commit hook passes them", []string{deploy}, "", 0, "1 flow(s) valid", ""},
		{"a directory", []string{filepath.Join(dir, "ok")}, "s3cret", 0, "2 flow(s) valid", ""},
		{"an unset secret_env is a warning", []string{deploy, prod}, "", 0, "2 flow(s) valid",
			"warning: flow \"prod-access\" (" + prod + "): webhook strategy: environment variable LATCH_TEST_WEBHOOK_SECRET"},
		{"and an error with --strict", []string{"--strict", deploy, prod}, "", 2, "LATCH_TEST_WEBHOOK_SECRET",
			"latch server would refuse to start here"},
		{"--strict with the variable set", []string{"--strict", prod}, "s3cret", 0, "1 flow(s) valid", ""},
		{"a problem, as file:line", []string{deploy, broken}, "", 2, broken + ":3:", "1 problem(s)"},
		{"the same name in two paths", []string{filepath.Join(dir, "ok"), write("dup/deploy.yml", "name: deploy\napproval:\n  approvers: [lead@example.com]\n")},
			"s3cret", 2, `flow name "deploy" is also used by`, ""},
		{"an empty directory", []string{empty}, "", 2, "", "no flow files in " + empty},
		{"no path", nil, "", 2, "", "requires at least 1 arg"},
		{"a missing path", []string{filepath.Join(dir, "nope.yaml")}, "", 2, "", "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("LATCH_TEST_WEBHOOK_SECRET", tt.env)
			}
			out, stderr, code := runCLI(t, append([]string{"flows", "validate"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("flows validate %v: exit %d\nstdout %q\nstderr %q\nwant %d, %q, %q", tt.args, code, out, stderr, tt.wantCode, tt.wantOut, tt.wantStderr)
			}
		})
	}
}
