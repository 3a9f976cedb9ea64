package latch

import (
	"slices"
	"time"
)

// UTC returns a copy of r with every time in UTC. It never writes through r's
// pointers or slices. Stores keep times in UTC.
func (r Request) UTC() Request {
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	r.StartsAt, r.EndsAt, r.ExpiresAt = utcPtr(r.StartsAt), utcPtr(r.EndsAt), utcPtr(r.ExpiresAt)
	r.ScheduledStart = utcPtr(r.ScheduledStart)
	r.Extension = r.Extension.utc()
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

// UTC returns a copy of g with every time in UTC, sharing nothing with g.
func (g Grant) UTC() Grant {
	g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
	g.StartsAt, g.EndedAt = utcPtr(g.StartsAt), utcPtr(g.EndedAt)
	g.Leases, g.Queued = utcLeases(g.Leases), utcLeases(g.Queued)
	return g
}

func utcLeases(ls []Lease) []Lease {
	if ls == nil {
		return nil
	}
	ls = slices.Clone(ls)
	for i := range ls {
		ls[i].StartsAt, ls[i].EndsAt = ls[i].StartsAt.UTC(), ls[i].EndsAt.UTC()
	}
	return ls
}

// UTC returns a copy of e with its time in UTC.
func (e AuditEvent) UTC() AuditEvent {
	e.At = e.At.UTC()
	return e
}

// UTC returns a copy of e with its times in UTC.
func (e Effect) UTC() Effect {
	e.At, e.CreatedAt = e.At.UTC(), e.CreatedAt.UTC()
	return e
}

// UTC returns a copy of u with its times in UTC.
func (u User) UTC() User {
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u
}

// UTC returns a copy of id with its time in UTC.
func (id Identity) UTC() Identity {
	id.UpdatedAt = id.UpdatedAt.UTC()
	return id
}

// UTC returns a copy of d with its time in UTC.
func (d Domain) UTC() Domain {
	d.CreatedAt = d.CreatedAt.UTC()
	return d
}

// UTC returns a copy of t with its times in UTC.
func (t Token) UTC() Token {
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
