package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
)

// TestDamageFoundAfterStartStopsTheServer: latch server answers before its
// store's whole-file check ends (docs/server.md, "The store is checked at
// start"). A page that only that check reads is zeroed, as a lost write
// leaves it; the server answers /healthz, never says it is ready, accepts
// no write, and exits non-zero naming the file, which it has not written
// to. The server runs under strace, which delays each pread of the file
// (how Open and the check read it) so that the check ends well after the
// server answers.
func TestDamageFoundAfterStartStopsTheServer(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("LATCH_REQUIRE_TOOLS") != "" {
			t.Fatal("strace is not installed and LATCH_REQUIRE_TOOLS is set; `make tools` installs it")
		}
		t.Skip("strace is not installed (`make tools` installs it)")
	}
	if err := exec.Command(strace, "-f", "-o", "/dev/null", "true").Run(); err != nil {
		t.Skipf("strace cannot trace here: %v", err)
	}
	flows := writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow("http://127.0.0.1:9/latch")})
	data := t.TempDir()
	file := filepath.Join(data, "latch.db")
	seedStore(t, file, 300, 50, 10)
	zeroPagesHolding(t, file, `"id":"req_00000150"`)
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	slow := []string{strace, "-f", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=pread64", "-e", "inject=pread64:delay_enter=300000"}
	srv := startServerVia(t, slow, nil, flows, data)
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v, want an answer while the store is checked", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", resp.StatusCode)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := srv.client().CreateRequest(context.Background(), httpapi.CreateBody{Flow: "prod-access", UserEmail: "carol@example.com",
			Fields: map[string]any{"reason": "after the damage"}})
		if err == nil {
			t.Error("a request was created over the damaged store")
		}
	}()
	for {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			break // the server has stopped
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("/readyz = 200 over the damaged store")
		}
		select {
		case <-srv.exited:
		case <-time.After(50 * time.Millisecond):
			continue
		}
		break
	}
	select {
	case <-srv.exited:
	case <-time.After(time.Minute):
		t.Fatalf("the server over a damaged store did not stop within a minute:\n%s", srv.logs.String())
	}
	<-done
	if code := srv.cmd.ProcessState.ExitCode(); code == 0 {
		t.Errorf("exit code 0, want a failure")
	}
	logs := srv.logs.String()
	for _, w := range []string{file, "is damaged", "Restore the last backup"} {
		if !strings.Contains(logs, w) {
			t.Errorf("the log does not say %q:\n%s", w, logs)
		}
	}
	for _, bad := range []string{"panic", "goroutine ", "fatal error", "SIGSEGV", "SIGBUS", "DATA RACE"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log holds %q:\n%s", bad, logs)
		}
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the damaged file was written to")
	}
}

// zeroPagesHolding writes zeros over every 4 KiB page of the file that holds
// text: the page of a stored document (and any stale copy in a free page).
func zeroPagesHolding(t *testing.T, file, text string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	n := 0
	for at := bytes.Index(data, []byte(text)); at >= 0; {
		p := at / page
		clear(data[p*page : (p+1)*page])
		n++
		next := bytes.Index(data[(p+1)*page:], []byte(text))
		if next < 0 {
			break
		}
		at = (p+1)*page + next
	}
	if n == 0 {
		t.Fatalf("no page of %s holds %s", file, text)
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
