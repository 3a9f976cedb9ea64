package latch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// BenchmarkApprove measures the approval that meets a quorum of two.
func BenchmarkApprove(b *testing.B) {
	f := testFlow(quorum(2))
	r := pending("r1", approvedBy(decision(bob, at(time.Minute))), seq(2))
	cmd := latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: by(cat), At: at(2 * time.Minute)}
	env := latch.Env{Flow: f, Actor: cat, Requester: ann}
	b.ReportAllocs()
	for b.Loop() {
		out, err := r.Apply(cmd, env)
		if err != nil || out.Request.Status != latch.StatusEscalating {
			b.Fatalf("Apply = %v, %v", out.Request.Status, err)
		}
	}
}

// BenchmarkDecideEscalated measures the escalation of a grant shared by four
// requests.
func BenchmarkDecideEscalated(b *testing.B) {
	const n = 4
	var ls []latch.Lease
	var rs []latch.Request
	for i := range n {
		id := fmt.Sprintf("r%d", i+1)
		ls = append(ls, lease(id, int64(1800*(i+1)), time.Time{}, time.Time{}))
		rs = append(rs, escalating(id, "g1", durationSecs(int64(1800*(i+1)))))
	}
	s := latch.State{
		Flow:       testFlow(),
		Grant:      ptr(grant("g1", latch.GrantEscalating, leases(ls...))),
		Requests:   requests(rs...),
		NewGrantID: func() string { return "unexpected" },
	}
	cmd := latch.Command{ID: "c1", Kind: latch.CmdEscalated, GrantID: "g1", At: at(5 * time.Minute)}
	b.ReportAllocs()
	for b.Loop() {
		c, err := latch.Decide(s, cmd)
		if err != nil || len(c.Requests) != n {
			b.Fatalf("Decide = %d requests, %v", len(c.Requests), err)
		}
	}
}
