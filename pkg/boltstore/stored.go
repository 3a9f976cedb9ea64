package boltstore

import (
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// storedRequest is what a write needs of the stored request it replaces:
// the version to check and the values its index entries are made of
// (requestIndex, requestDue). Decoding only these skips the rest of the
// document (fields, context, decisions), which the commit path does not
// read. A field that requestIndex or requestDue comes to use belongs here
// too (TestStoredRequestKeepsTheIndexedFields).
type storedRequest struct {
	ID        string        `json:"id"`
	Flow      string        `json:"flow"`
	Requester latch.UserRef `json:"requester"`
	Status    latch.Status  `json:"status"`
	ExpiresAt *time.Time    `json:"expires_at"`
	ForwardAt *time.Time    `json:"forward_at"`
	// ScheduledStart is a scheduled request's due time.
	ScheduledStart *time.Time `json:"scheduled_start"`
	CreatedAt      time.Time  `json:"created_at"`
	Version        int64      `json:"version"`
}

// request returns the indexed values as a latch.Request, for requestIndex
// and requestDue.
func (s *storedRequest) request() latch.Request {
	return latch.Request{ID: s.ID, Flow: s.Flow, Requester: s.Requester, Status: s.Status,
		ExpiresAt: s.ExpiresAt, ForwardAt: s.ForwardAt, ScheduledStart: s.ScheduledStart, CreatedAt: s.CreatedAt, Version: s.Version}
}

// storedGrant is what a write needs of the stored grant it replaces: the
// version, the open-grant key, and what its status and due entries are made
// of (statusKey, grantDue). A field that those come to use belongs here too
// (TestStoredGrantKeepsTheIndexedFields).
type storedGrant struct {
	ID     string            `json:"id"`
	Key    string            `json:"key"`
	Status latch.GrantStatus `json:"status"`
	Leases []struct {
		EndsAt time.Time `json:"ends_at"`
	} `json:"leases"`
	Version int64 `json:"version"`
}

func (s *storedGrant) grant() latch.Grant {
	g := latch.Grant{ID: s.ID, Key: s.Key, Status: s.Status, Version: s.Version}
	for _, l := range s.Leases {
		g.Leases = append(g.Leases, latch.Lease{EndsAt: l.EndsAt})
	}
	return g
}
