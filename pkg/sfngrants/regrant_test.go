package sfngrants_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sfngrants"
)

// TestRunnerRegrant: Regrant answers the current Hold with regrant and the
// Hold until the grant's next lease end; with no Hold to answer (none, a
// stale token) it fails, so that the effect is tried again; a grant no
// longer active needs nothing.
func TestRunnerRegrant(t *testing.T) {
	const id = "grt_4"
	end := fixedNow.Add(150*time.Minute + 300*time.Millisecond)
	active := latch.Grant{ID: id, Flow: flowName, Status: latch.GrantActive,
		Leases: []latch.Lease{{RequestID: "req_1", Duration: 9000, StartsAt: fixedNow, EndsAt: end}}}
	ending := active
	ending.Status = latch.GrantDeescalating
	for _, tt := range []struct {
		name    string
		grant   latch.Grant
		token   string
		answer  []apiAnswer
		calls   int
		wantErr bool
	}{
		{name: "current hold", grant: active, token: "tok", calls: 1},
		{name: "no hold now", grant: active, wantErr: true},
		{name: "revoke over", grant: active, token: sfngrants.RevokeOver, wantErr: true},
		{name: "stale token", grant: active, token: "tok", answer: []apiAnswer{{Code: "TaskTimedOut"}}, calls: 1, wantErr: true},
		{name: "send fails", grant: active, token: "tok", answer: []apiAnswer{{Code: "KmsThrottlingException"}}, calls: 1, wantErr: true},
		{name: "the grant is being revoked", grant: ending, token: "tok", calls: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			api.on("SendTaskSuccess", tt.answer...)
			tokens := &sfngrants.MemoryTokens{}
			if tt.token != "" {
				_ = tokens.PutHoldToken(context.Background(), id, tt.token, "2026-11-25T10:30:00Z", fixedNow)
			}
			r := newTestRunner(t, api, grantStore{id: tt.grant}, tokens)
			err := r.Regrant(context.Background(), id)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Regrant: %v, want error %v", err, tt.wantErr)
			}
			calls := api.took()
			if len(calls) != tt.calls {
				t.Fatalf("calls %v, want %d", calls, tt.calls)
			}
			if tt.calls == 0 || tt.wantErr {
				return
			}
			var a sfngrants.Answer
			if err := json.Unmarshal([]byte(calls[0].Body["output"].(string)), &a); err != nil {
				t.Fatal(err)
			}
			want := sfngrants.Hold{Until: "2026-11-25T12:00:00.3Z", Seconds: 9001}
			if a.Action != sfngrants.AnswerRegrant || a.Hold == nil || *a.Hold != want {
				t.Errorf("answer %+v (hold %+v), want regrant, hold %+v", a, a.Hold, want)
			}
		})
	}
}
