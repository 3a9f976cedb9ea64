package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

// listAPI is the real API over a store of 5 requests, r0..r4, one a
// minute from 2026-03-01T09:00Z.
func listAPI(t *testing.T) string {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var reqs []latch.Request
	for i := range 5 {
		reqs = append(reqs, latch.Request{ID: fmt.Sprintf("r%d", i), Flow: "prod-db", Status: latch.StatusPending,
			Requester: latch.UserRef{Email: "ann@example.com"}, CreatedAt: t0.Add(time.Duration(i) * time.Minute), UpdatedAt: t0})
	}
	if err := store.Commit(t.Context(), latch.Change{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	s := &httpapi.Server{Store: store,
		Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken("cli-token"), Service: &tokens.Service{Store: store}}}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	t.Setenv("LATCH_TOKEN", "cli-token")
	return srv.URL
}

func listedIDs(t *testing.T, out string) ([]string, string) {
	t.Helper()
	var list httpapi.RequestList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("output %q is not the API's list: %v", out, err)
	}
	var ids []string
	for _, r := range list.Requests {
		ids = append(ids, r.ID)
	}
	return ids, list.Next
}

// latch list prints a page and says how to get the next (--cursor); -o
// json prints the API's page with its next; --all follows every page.
func TestListFollowsPages(t *testing.T) {
	url := listAPI(t)

	code, out, errOut := latchCLI(t, "list", "--limit", "2", "--url", url)
	if code != exitOK {
		t.Fatalf("latch list: exit %d, %s", code, errOut)
	}
	m := regexp.MustCompile(`--cursor (\S+) for the next page`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "r4") || !strings.Contains(out, "r3") || strings.Contains(out, "r2") {
		t.Fatalf("latch list --limit 2 printed %q; want r4, r3 and the next page's cursor", out)
	}

	code, out, errOut = latchCLI(t, "list", "--limit", "2", "--cursor", m[1], "--url", url, "-o", "json")
	if code != exitOK {
		t.Fatalf("latch list --cursor: exit %d, %s", code, errOut)
	}
	if ids, next := listedIDs(t, out); !slices.Equal(ids, []string{"r2", "r1"}) || next == "" {
		t.Errorf("second page = %v, next %q; want r2 r1 and a next", ids, next)
	}

	code, out, errOut = latchCLI(t, "list", "--all", "--limit", "2", "--url", url, "-o", "json")
	if code != exitOK {
		t.Fatalf("latch list --all: exit %d, %s", code, errOut)
	}
	if ids, next := listedIDs(t, out); !slices.Equal(ids, []string{"r4", "r3", "r2", "r1", "r0"}) || next != "" {
		t.Errorf("--all = %v, next %q; want r4..r0 and no next", ids, next)
	}

	code, out, errOut = latchCLI(t, "list", "--since", "2026-03-01T09:01:00Z", "--until", "2026-03-01T09:03:00Z", "--url", url, "-o", "json")
	if code != exitOK {
		t.Fatalf("latch list --since --until: exit %d, %s", code, errOut)
	}
	if ids, _ := listedIDs(t, out); !slices.Equal(ids, []string{"r2", "r1"}) {
		t.Errorf("--since 09:01 --until 09:03 = %v, want r2 r1", ids)
	}

	for _, args := range [][]string{{"--all", "--cursor", m[1]}, {"--until", "tomorrow"}} {
		if code, _, errOut := latchCLI(t, append([]string{"list", "--url", url}, args...)...); code != exitUsage {
			t.Errorf("latch list %v: exit %d (%s), want %d", args, code, errOut, exitUsage)
		}
	}
	// A cursor of another list is the API's 400 bad_cursor.
	if code, _, errOut := latchCLI(t, "list", "--status", "active", "--cursor", m[1], "--url", url); code == exitOK || !strings.Contains(errOut, "cursor") {
		t.Errorf("latch list with another list's cursor: exit %d, %q; want a failure about the cursor", code, errOut)
	}
}
