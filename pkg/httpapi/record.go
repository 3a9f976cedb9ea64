package httpapi

import (
	"context"

	"github.com/latchhq/latch/pkg/ids"
	"github.com/latchhq/latch/pkg/latch"
)

// record adds an audit event for an admin's change (one that belongs to no
// request). about is the person the change concerns, if any: it is kept as
// the event's requester so that `latch audit --user` finds it. The change is
// already made; a failure to record it is logged loudly, never hidden.
func (s *Server) record(ctx context.Context, p Principal, t latch.AuditType, about string, data map[string]any) {
	e := latch.AuditEvent{ID: ids.New("evt"), Type: t, At: s.Clock.Now(), Requester: about, Actor: p.actor(),
		Source: latch.SourceAdmin, Data: data}
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		s.Log.ErrorContext(ctx, "could not record an audit event", "type", t, "about", about, "err", err)
	}
}

// actor is who a principal acts as in the audit trail: a bot by its name;
// the bootstrap admin token as the bot "admin".
func (p Principal) actor() latch.Actor {
	if p.Bot != "" {
		return latch.Actor{Bot: p.Bot}
	}
	return latch.Actor{Bot: p.Name}
}
