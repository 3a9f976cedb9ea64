package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

// noRevokeFlow grants access through a strategy and does not let anyone
// but admins revoke it early; the requester may still end their own.
const noRevokeFlow = `name: locked
allow_revoke: false
fields:
  - {name: service, type: string, required: true}
approval:
  approvers: [lead@example.com]
strategy:
  type: webhook
  url: https://hooks.example.com/latch
  secret_env: LATCH_TEST_WEBHOOK_SECRET
  targets:
    - {id: db, label: Database}
`

// calls is a fake escalator that records what it is asked.
type calls struct {
	mu  sync.Mutex
	got []string
	ch  chan string
}

func (c *calls) Grant(_ context.Context, g latch.GrantSpec) error {
	c.record("grant " + g.GrantID)
	return nil
}

func (c *calls) Revoke(_ context.Context, g latch.GrantSpec) error {
	c.record("revoke " + g.GrantID)
	return nil
}

func (c *calls) record(s string) {
	c.mu.Lock()
	c.got = append(c.got, s)
	c.mu.Unlock()
	c.ch <- s
}

// A bot acting as the requester ends the requester's access on a flow with
// allow_revoke false, recorded as released, and the target is told; the
// approver acting the same way is refused revoke_not_allowed.
func TestRequesterReleasesWhereRevokeIsNotAllowed(t *testing.T) {
	a, esc, store := localAPI(t, noRevokeFlow)

	all := []string{tokens.ScopeRead, tokens.ScopeWrite, tokens.ScopeApprove}
	ci := a.bot(t, "ci", `{}`, all...)
	id := a.create(t, ci, "locked", "alice@example.com")
	if st, code, _ := a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/approve", `{"as":"lead@example.com"}`); st != http.StatusAccepted {
		t.Fatalf("approve: %d %s", st, code)
	}
	if got := <-esc.ch; got[:6] != "grant " {
		t.Fatalf("first escalator call %q, want a grant", got)
	}
	for {
		// The grant is reported by the runner after Grant returns: the
		// request becomes active once that report is handled.
		r, err := store.GetRequest(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == latch.StatusActive {
			break
		}
		<-time.After(10 * time.Millisecond)
	}

	st, code, _ := a.call(t, ci, http.MethodPost, "/v1/requests/"+id+"/revoke", `{"as":"lead@example.com","reason":"not yours"}`)
	if st != http.StatusForbidden || code != latch.CodeRevokeNotAllowed {
		t.Fatalf("revoke as the approver = %d %s, want 403 %s", st, code, latch.CodeRevokeNotAllowed)
	}
	st, code, _ = a.call(t, adminSecret, http.MethodPost, "/v1/requests/"+id+"/revoke", `{"as":"lead@example.com"}`)
	if st != http.StatusForbidden || code != latch.CodeRevokeNotAllowed {
		t.Fatalf("revoke as the approver (admin token) = %d %s, want 403 %s", st, code, latch.CodeRevokeNotAllowed)
	}

	st, code, _ = a.call(t, ci, http.MethodPost, "/v1/requests/"+id+"/revoke", `{"as":"alice@example.com","reason":"done"}`)
	if st != http.StatusAccepted {
		t.Fatalf("revoke as the requester = %d %s, want 202", st, code)
	}
	if got := <-esc.ch; got[:7] != "revoke " {
		t.Fatalf("escalator call after the release %q, want a revoke", got)
	}
	for {
		r, err := store.GetRequest(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == latch.StatusEnded {
			break
		}
		<-time.After(10 * time.Millisecond)
	}
	evs, err := store.AuditEvents(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var types []latch.AuditType
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if !slices.Contains(types, latch.AuditReleased) || slices.Contains(types, latch.AuditRevoked) {
		t.Errorf("audit trail %v, want released and no revoked", types)
	}
	i := slices.Index(types, latch.AuditReleased)
	if e := evs[i]; e.Actor.Email != "alice@example.com" || e.Actor.Bot != "ci" || e.Reason != "done" {
		t.Errorf("released event %+v, want alice via ci, reason done", e)
	}
}
