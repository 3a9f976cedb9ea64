package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// WarnFailedRevokes names, as an ERROR, the grants an earlier version of
// Latch left failed at the revoke (that version gave a revoke up): they may
// still hold access, and nothing revokes them until an admin retries their
// requests (a retry first completes the revoke). This version never leaves
// a grant failed at the revoke, so the list empties once each is retried.
// `latch server` calls it at start; on AWS the reconciler calls it once per
// execution environment.
func WarnFailedRevokes(ctx context.Context, store latch.Store, log *slog.Logger) error {
	failed, err := store.ListGrants(ctx, latch.GrantFailed)
	if err != nil {
		return fmt.Errorf("list failed grants: %w", err)
	}
	var held []string
	for _, g := range failed {
		if g.Failure != nil && g.Failure.Stage == latch.StageDeescalate {
			held = append(held, g.ID+" (requests "+strings.Join(g.RequestIDs(), " ")+")")
		}
	}
	if len(held) > 0 {
		log.ErrorContext(ctx, "grants failed at the revoke by an earlier version may still hold access; "+
			"retry each of their requests as an admin (latch retry REQUEST) to revoke them", "grants", strings.Join(held, ", "))
	}
	return nil
}
