package main

import (
	"strings"
	"testing"
)

// latch extend sends the requester's extension with the duration as
// written; a duration it cannot read is a usage error and sends nothing.
func TestExtendSendsTheExtension(t *testing.T) {
	api := newFakeAPI(t)
	t.Setenv("LATCH_TOKEN", "cli-token")

	code, out, errOut := latchCLI(t, "extend", "req_1", "--by", "90m", "--as", "alice@example.com", "--reason", "late",
		"--url", api.srv.URL, "-o", "json")
	if code != exitOK {
		t.Fatalf("latch extend: exit %d, %s", code, errOut)
	}
	want := []string{`/v1/requests/req_1/extend {"duration":"90m","reason":"late","as":"alice@example.com"}`}
	if got := api.sent(); len(got) != 1 || got[0] != want[0] {
		t.Errorf("sent %q, want %q", got, want)
	}
	if !strings.Contains(out, `"id": "req_1"`) && !strings.Contains(out, `"id":"req_1"`) {
		t.Errorf("output %q does not show the request as the API answered", out)
	}

	for _, args := range [][]string{
		{"extend", "req_1", "--by", "soon", "--as", "alice@example.com"},
		{"extend", "req_1", "--by", "-1h", "--as", "alice@example.com"},
		{"extend", "req_1", "--as", "alice@example.com"},
		{"extend", "req_1", "--by", "1h"},
	} {
		code, _, errOut := latchCLI(t, append(args, "--url", api.srv.URL)...)
		if code != exitUsage {
			t.Errorf("latch %s: exit %d (%s), want %d", strings.Join(args, " "), code, errOut, exitUsage)
		}
	}
	if got := api.sent(); len(got) != 1 {
		t.Errorf("refused invocations sent %q", got[1:])
	}
}
