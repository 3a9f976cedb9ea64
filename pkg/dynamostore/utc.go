package dynamostore

import (
	"slices"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// The utc* functions return copies of entities with every time in UTC, as
// the store keeps them. They never write through the caller's pointers or
// slices.

func utcRequest(r latch.Request) latch.Request {
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	r.StartsAt, r.EndsAt, r.ExpiresAt = utcPtr(r.StartsAt), utcPtr(r.EndsAt), utcPtr(r.ExpiresAt)
	if r.Approvals != nil {
		r.Approvals = slices.Clone(r.Approvals)
		for i := range r.Approvals {
			r.Approvals[i].At = r.Approvals[i].At.UTC()
		}
	}
	if r.Decision != nil {
		d := *r.Decision
		d.At = d.At.UTC()
		r.Decision = &d
	}
	return r
}

func utcGrant(g latch.Grant) latch.Grant {
	g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
	g.StartsAt, g.EndedAt = utcPtr(g.StartsAt), utcPtr(g.EndedAt)
	g.Leases, g.Queued = utcLeases(g.Leases), utcLeases(g.Queued)
	return g
}

func utcLeases(ls []latch.Lease) []latch.Lease {
	if ls == nil {
		return nil
	}
	ls = slices.Clone(ls)
	for i := range ls {
		ls[i].StartsAt, ls[i].EndsAt = ls[i].StartsAt.UTC(), ls[i].EndsAt.UTC()
	}
	return ls
}

func utcAudit(e latch.AuditEvent) latch.AuditEvent {
	e.At = e.At.UTC()
	return e
}

func utcEffect(e latch.Effect) latch.Effect {
	e.At, e.CreatedAt = e.At.UTC(), e.CreatedAt.UTC()
	return e
}

func utcUser(u latch.User) latch.User {
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u
}

func utcIdentity(id latch.Identity) latch.Identity {
	id.UpdatedAt = id.UpdatedAt.UTC()
	return id
}

func utcDomain(d latch.Domain) latch.Domain {
	d.CreatedAt = d.CreatedAt.UTC()
	return d
}

func utcToken(t latch.Token) latch.Token {
	t.CreatedAt = t.CreatedAt.UTC()
	t.ExpiresAt, t.RevokedAt = utcPtr(t.ExpiresAt), utcPtr(t.RevokedAt)
	return t
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
