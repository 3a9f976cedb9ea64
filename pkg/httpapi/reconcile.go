package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/latchhq/latch/pkg/latch"
)

// Reconciler runs the drift check on demand (POST /v1/reconcile): dryRun
// finds drift without correcting it. The answer is written as JSON.
type Reconciler func(ctx context.Context, dryRun bool) (any, error)

func (s *Server) reconcile(w http.ResponseWriter, r *http.Request, _ Principal) error {
	closeUnread(w, r)
	dry := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return latch.Errorf(latch.KindInvalid, "bad_dry_run", "dry_run must be true or false.")
		}
		dry = b
	}
	rep, err := s.Reconcile(r.Context(), dry)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
