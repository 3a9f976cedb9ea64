package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// docs/cli.md's table of exit codes is the table in the code, row for row.
func TestExitCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range exitCodes {
		want = append(want, fmt.Sprintf("| %d | %s |", e.Code, e.Meaning))
	}
	got := regexp.MustCompile(`(?m)^\| \d+ \|.*\|$`).FindAllString(string(doc), -1)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("docs/cli.md exit codes:\n%s\nwant (from exitCodes):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	help := newRoot().Long
	for _, e := range exitCodes {
		if !strings.Contains(help, fmt.Sprintf("%d  %s", e.Code, e.Meaning)) {
			t.Errorf("latch --help lacks exit code %d", e.Code)
		}
	}
}

// The command line decides the exit code of every mistake cobra catches
// before a command runs, and of each kind of error after.
func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"nope"},
		{"tokens", "nope"},
		{"get"},
		{"get", "a", "b"},
		{"get", "req_1", "--nope"},
		{"list", "--limit", "x"},
		{"request", "deploy"},
		{"list", "-o", "xml"},
		{"list", "--json", "-o", "yaml"},
		{"list", "--url", "127.0.0.1:8080"},
		{"list", "--url", "ftp://127.0.0.1"},
		{"server", "--url", "http://127.0.0.1:8080"},
		{"server", "--reconcile-every", "500ms", "--data", "/nonexistent/latch"},
		{"version", "extra"},
	} {
		t.Setenv("LATCH_TOKEN", "")
		var stderr strings.Builder
		root := newRoot()
		root.SetErr(&stderr)
		root.SetOut(&strings.Builder{})
		root.SetArgs(args)
		_, err := root.ExecuteC()
		if code := exitCode(err); err == nil || code != exitUsage {
			t.Errorf("latch %s: exit %d (%v), want %d", strings.Join(args, " "), code, err, exitUsage)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for give, want := range map[string]string{
		"http://127.0.0.1:8080":   "",
		"https://latch.example":   "",
		"localhost:8080":          `has no scheme: write http://localhost:8080`,
		"latch.example.com":       `has no scheme: write http://latch.example.com`,
		"ftp://latch.example.com": "the scheme must be http or https",
		"":                        "set LATCH_URL",
	} {
		_, err := checkURL(give)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("checkURL(%q) = %v, want %q", give, err, want)
		}
	}
}
