package client

import (
	"context"
	"net/http"

	"github.com/latchhq/latch/pkg/reconcile"
)

// Reconcile runs latch server's drift check now (POST /v1/reconcile; admin):
// with dryRun, it only reports what differs.
func (c *Client) Reconcile(ctx context.Context, dryRun bool) (reconcile.DriftReport, error) {
	path := "/v1/reconcile"
	if dryRun {
		path += "?dry_run=true"
	}
	var out reconcile.DriftReport
	return out, c.do(ctx, http.MethodPost, path, nil, &out)
}
