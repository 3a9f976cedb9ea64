package e2e

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// readmeWalkthrough returns the latch commands of the README's "Five
// minutes with Latch" block, one per command (continuation lines joined,
// comments dropped), as a newcomer would type them.
func readmeWalkthrough(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Five minutes with Latch")
	if !ok {
		t.Fatal(`README.md has no "Five minutes with Latch" section`)
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatal("the walk-through has no sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	var cmds []string
	var cur string
	for line := range strings.Lines(block) {
		line = strings.TrimRight(line, "\n")
		if before, _, found := strings.Cut(line, "  #"); found {
			line = before
		}
		line = strings.TrimSpace(line)
		if cur != "" {
			line = cur + " " + line
			cur = ""
		}
		if strings.HasSuffix(line, "\\") {
			cur = strings.TrimSuffix(line, "\\")
			continue
		}
		if strings.HasPrefix(line, "bin/latch ") {
			cmds = append(cmds, strings.Join(strings.Fields(line), " "))
		}
	}
	if len(cmds) < 5 {
		t.Fatalf("the walk-through has %d latch commands: %q", len(cmds), cmds)
	}
	return cmds
}

// readmeAuditTrail returns the event types the README's walk-through says
// `latch audit` shows, in order (the comment after the command: a → b → c).
func readmeAuditTrail(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(readme)) {
		cmd, comment, ok := strings.Cut(line, "#")
		if !ok || !strings.HasPrefix(cmd, "bin/latch audit ") || !strings.Contains(comment, "→") {
			continue
		}
		var types []string
		for _, typ := range strings.Split(comment, "→") {
			types = append(types, strings.TrimSpace(typ))
		}
		return types
	}
	t.Fatal("the walk-through's latch audit line names no trail (a → b → …)")
	return nil
}

// shellWords splits a command line of the README (plain words and
// double-quoted ones, nothing else) into arguments.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inQuote, have := false, false
	for _, r := range line {
		switch {
		case r == '"':
			inQuote, have = !inQuote, true
		case r == ' ' && !inQuote:
			if have {
				words = append(words, w.String())
				w.Reset()
				have = false
			}
		default:
			w.WriteRune(r)
			have = true
		}
	}
	if inQuote {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if have {
		words = append(words, w.String())
	}
	return words
}

// The README's five-minute walk-through, run as written against the
// repository's own flows, a running latch server and the demo webhook
// target (`latch webhook listen`), as `make dev` starts them: each command
// succeeds, the demo target receives the escalate at approval and the
// deescalate at the revoke, and the audit trail is the one the README
// describes. Only the request id (the README says to use the one printed),
// the server's address and the demo target's port are the test's own.
func TestReadmeWalkthrough(t *testing.T) {
	cmds := readmeWalkthrough(t)

	// The demo target, on a port it picks.
	target := exec.Command(latchBin, "webhook", "listen", "--addr", "127.0.0.1:0")
	target.Env = append(os.Environ(), "LATCH_WEBHOOK_SECRET="+webhookSecret)
	stderr, err := target.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var received syncBuffer
	target.Stdout = &received
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = target.Process.Kill(); _ = target.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "webhook target listening on "); ok {
				addr <- u
			}
		}
	}()
	var targetURL string
	select {
	case targetURL = <-addr:
	case <-time.After(15 * time.Second):
		t.Fatal("the demo webhook target did not start")
	}

	// The repository's flows, pointed at that target instead of :9999.
	flowDir := t.TempDir()
	entries, err := os.ReadDir("../flows")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("../flows", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte("http://127.0.0.1:9999"), []byte(targetURL))
		if err := os.WriteFile(filepath.Join(flowDir, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv := startServer(t, flowDir, t.TempDir())
	work := t.TempDir()

	readmeID := regexp.MustCompile(`req_[a-z0-9]+`)
	var id string
	for _, line := range cmds {
		args := shellWords(t, line)[1:] // bin/latch → the built binary
		for i, a := range args {
			switch {
			case readmeID.MatchString(a):
				if id == "" {
					t.Fatalf("%q names a request before one was made", line)
				}
				args[i] = readmeID.ReplaceAllString(a, id)
			case a == "flows" && i == 2 && args[0] == "flows":
				args[i] = flowDir
			case strings.HasSuffix(a, ".db"):
				args[i] = filepath.Join(work, a)
			}
		}
		out, errOut, code := cli(t, srv, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", line, code, out, errOut)
		}
		if args[0] == "request" {
			m := readmeID.FindString(out)
			if m == "" {
				t.Fatalf("%s printed no request id:\n%s", line, out)
			}
			id = m
		}
		if args[0] == "approve" {
			// The README's next step reads the access as active: the demo
			// target has the escalate by then.
			waitFor(t, func() bool { return strings.Contains(received.String(), `"action":"escalate"`) },
				"the demo target receives the escalate")
			waitStatus(t, srv.client(), id, latch.StatusActive, 10*time.Second)
		}
		if args[0] == "revoke" {
			waitFor(t, func() bool { return strings.Contains(received.String(), `"action":"deescalate"`) },
				"the demo target receives the deescalate")
			waitStatus(t, srv.client(), id, latch.StatusEnded, 10*time.Second)
		}
		if args[0] == "audit" {
			last := -1
			for _, typ := range readmeAuditTrail(t) {
				i := strings.Index(out, typ)
				if i < 0 || i < last {
					t.Errorf("latch audit does not show %s after the events before it:\n%s", typ, out)
					break
				}
				last = i
			}
		}
		if args[0] == "backup" {
			if st, err := os.Stat(args[1]); err != nil || st.Size() == 0 {
				t.Errorf("latch backup wrote no copy at %s: %v", args[1], err)
			}
		}
	}
	if id == "" {
		t.Fatal("the walk-through made no request")
	}
}
