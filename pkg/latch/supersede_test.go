package latch_test

import (
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// An admin retrying a failed revoke while a newer grant for the same user
// and target holds the access must not revoke it: the failed grant is closed
// and its request ends with lease_ended, and no deescalate effect is asked.
// Without a newer grant, the retry asks for the revoke again.
func TestRetryOfFailedRevoke(t *testing.T) {
	start, end := at(2*time.Minute), at(time.Hour)
	failedReq := deescalating("r1", "g1", start, end, status(latch.StatusFailed), failed("boom", "target down", latch.StageDeescalate))
	old := grant("g1", latch.GrantFailed, leases(lease("r1", 3600, start, end)), grantFailure("boom", "target down", latch.StageDeescalate))
	newer := grant("g2", latch.GrantActive, leases(lease("r2", 3600, at(2*time.Hour), at(3*time.Hour))))
	r2 := active("r2", "g2", at(2*time.Hour), at(3*time.Hour))
	cmd := latch.Command{ID: "c1", Kind: latch.CmdRetry, RequestID: "r1", Actor: by(dan), At: at(150 * time.Minute)}

	tests := []struct {
		name           string
		open           *latch.Grant
		others         map[string]*latch.Request
		wantGrant      latch.GrantStatus
		wantReq        latch.Status
		wantAudit      []latch.AuditType
		wantDeescalate bool
	}{
		{"no newer grant: revoke again", nil, nil, latch.GrantDeescalating, latch.StatusDeescalating,
			[]latch.AuditType{latch.AuditRetried}, true},
		{"newer grant open: close the failed one", &newer, map[string]*latch.Request{"r2": &r2}, latch.GrantEnded, latch.StatusEnded,
			[]latch.AuditType{latch.AuditRetried, latch.AuditLeaseEnded}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, g := failedReq, old
			reqs := map[string]*latch.Request{}
			for k, v := range tt.others {
				reqs[k] = v
			}
			c, err := latch.Decide(latch.State{Flow: testFlow(), Request: &r, Grant: &g, OpenGrant: tt.open,
				Requests: reqs, Actor: dan, Requester: ann, NewGrantID: func() string { return "gX" }}, cmd)
			if err != nil {
				t.Fatal(err)
			}
			var gotGrant *latch.Grant
			for i := range c.Grants {
				if c.Grants[i].ID == "g1" {
					gotGrant = &c.Grants[i]
				}
				if c.Grants[i].ID == "g2" {
					t.Errorf("the newer grant was changed: %+v", c.Grants[i])
				}
			}
			if gotGrant == nil || gotGrant.Status != tt.wantGrant {
				t.Fatalf("failed grant after retry = %+v, want status %s", gotGrant, tt.wantGrant)
			}
			if len(c.Requests) != 1 || c.Requests[0].Status != tt.wantReq {
				t.Fatalf("requests = %+v, want r1 %s", c.Requests, tt.wantReq)
			}
			var types []latch.AuditType
			for _, a := range c.Audit {
				types = append(types, a.Type)
			}
			if len(types) != len(tt.wantAudit) {
				t.Fatalf("audit = %v, want %v", types, tt.wantAudit)
			}
			for i := range types {
				if types[i] != tt.wantAudit[i] {
					t.Errorf("audit = %v, want %v", types, tt.wantAudit)
				}
			}
			deescalate := false
			for _, e := range c.Effects {
				if e.Kind == latch.EffectDeescalate {
					deescalate = true
				}
			}
			if deescalate != tt.wantDeescalate {
				t.Errorf("deescalate effect = %v, want %v (effects %v)", deescalate, tt.wantDeescalate, c.Effects)
			}
		})
	}
}
