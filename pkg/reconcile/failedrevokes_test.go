package reconcile_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
)

// Grants an earlier version left failed at the revoke may still hold
// access: the server names them at start, with what to do.
func TestStartNamesGrantsFailedAtTheRevoke(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	grant := func(id, stage string) latch.Grant {
		return latch.Grant{ID: id, Key: "prod/db/" + id, Flow: "prod", TargetID: "db", User: latch.UserRef{Email: "ann@example.com"},
			Status: latch.GrantFailed, Leases: []latch.Lease{{RequestID: "req_" + id}},
			Failure: &latch.Failure{Code: "x", Message: "y", Stage: stage}, CreatedAt: now, UpdatedAt: now}
	}
	if err := store.Commit(context.Background(), latch.Change{Dedup: "seed",
		Grants: []latch.Grant{grant("grt_revoke", latch.StageDeescalate), grant("grt_refused", latch.StageEscalate)}}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := reconcile.WarnFailedRevokes(context.Background(), store, slog.New(slog.NewTextHandler(&buf, nil))); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "grt_revoke (requests req_grt_revoke)") ||
		!strings.Contains(out, "latch retry") || strings.Contains(out, "grt_refused") {
		t.Errorf("log %q; want an ERROR naming the grant failed at the revoke only", out)
	}
}
