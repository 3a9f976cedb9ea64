package sfngrants_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sfngrants"
)

// These are the definition tests: the state machine from Definition() run
// in aws-local-stepfunctions, driven by the engine through the Runner, with
// the TaskHandler behind its Lambda tasks. Each follows one grant's life.

// active has ann's request approved and waits until her access is in place
// and the grant's execution holds until the lease end.
func (rt *rig) active(duration string) (latch.Request, latch.Grant, *execution) {
	rt.t.Helper()
	r := rt.request(duration)
	r = rt.waitFor(r.ID, latch.StatusActive)
	rt.idle() // the escalated report's effects (the Wake) carried out before a test moves the clock
	ex := rt.execution(r.GrantID)
	g := rt.grant(r.GrantID)
	end, ok := g.NextDue()
	if !ok {
		rt.t.Fatalf("grant %s has no lease end", g.ID)
	}
	rt.holding(ex, holdUntil(end))
	return r, g, ex
}

func TestNormalPath(t *testing.T) {
	rt := newRig(t)
	r, g, ex := rt.active("1h")
	end, _ := g.NextDue()
	h := rt.holding(ex, holdUntil(end))
	if left := time.Until(end); h.Seconds < int64(left/time.Second) || h.Seconds > int64(left/time.Second)+2 {
		t.Errorf("the Hold times out after %ds; the lease ends in %v", h.Seconds, left)
	}

	rt.clock.Advance(time.Hour + time.Second)
	if !rt.sfn.timeOut(ex) {
		t.Fatal("no Hold to time out")
	}
	end2 := rt.sfn.awaitEnd(ex)
	if end2.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s %s", end2.Status, end2.Error, end2.Cause)
	}
	rt.waitFor(r.ID, latch.StatusEnded)
	if got := rt.grant(g.ID); got.Status != latch.GrantEnded {
		t.Errorf("grant is %s, want ended", got.Status)
	}
	if got, want := rt.reports(eventsQueueURL), []string{"escalated", "due", "deescalated"}; !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
	msgs := rt.messages()
	if msgs[1].ID != "due/"+g.ID+"/"+itoa(end.UnixNano()) || msgs[1].At.Before(end) {
		t.Errorf("due report %s at %v; want id due/<grant>/<end nanos>, at or after %v", msgs[1].ID, msgs[1].At, end)
	}
	if msgs[0].ID != "escalated/"+g.ID+"/v1" {
		t.Errorf("escalated report id %s", msgs[0].ID)
	}
	if rt.esc.count("grant") != 1 || rt.esc.count("revoke") != 1 {
		t.Errorf("escalator calls %v, want one grant and one revoke", rt.esc.calls)
	}
	// Issue #13: at most 8 state transitions per grant on the normal path
	// (Step Functions bills each state entered). The Hold after the escalate
	// task waits until the lease end; the engine's wake-up after it records
	// the escalation leaves it; at the end it times out to Due, whose Hold
	// reports the due and waits for the engine's revoke. Every task sends
	// its own report.
	path := rt.sfn.entered(ex)
	if want := []string{"Start", "Escalate", "Hold", "Due", "Hold", "Answer", "Revoke", "Done"}; !slices.Equal(path, want) {
		t.Errorf("path %v, want %v", path, want)
	}
	if len(path) > 8 {
		t.Errorf("the normal path enters %d states, more than 8", len(path))
	}
	if len(rt.reports(deadLetterURL)) != 0 {
		t.Errorf("dead letters %v", rt.reports(deadLetterURL))
	}
	tok, _, err := rt.tokens.HoldToken(context.Background(), g.ID)
	if err != nil || tok == "" || tok == sfngrants.RevokeOver {
		t.Errorf("hold token %q, %v; want the last Hold's", tok, err)
	}
}

func TestEscalateFailingThenSucceeding(t *testing.T) {
	rt := newRig(t)
	rt.esc.on("grant", errDown, errDown, nil)
	r, _, ex := rt.active("1h")
	// The first attempt fails to EscalateAgain, which is retried once.
	if n := rt.sfn.count(ex, "StateRetried", sfngrants.StateEscalateAgain); n != 1 {
		t.Errorf("escalate-again retried %d times, want 1", n)
	}
	if rt.esc.count("grant") != 3 {
		t.Errorf("grant called %d times, want 3", rt.esc.count("grant"))
	}
	rt.do(latch.CmdRevoke, r.ID, ann)
	if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s", e.Status)
	}
	rt.waitFor(r.ID, latch.StatusEnded)
	if got, want := rt.reports(eventsQueueURL), []string{"escalated", "deescalated"}; !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
}

func TestEscalateFailingForGood(t *testing.T) {
	for _, tt := range []struct {
		name     string
		errs     []error
		attempts int
		code     string
		held     bool // the target may hold access: cleaned up, then revoked until a revoke succeeds
	}{
		// Every attempt the state machine allows (DefaultTiming: 6), then
		// escalation_failed with the escalator's words.
		{"transient", []error{errDown}, sfngrants.DefaultTiming.EscalateAttempts, "escalation_failed", true},
		// A permanent error is not retried, and keeps its code.
		{"permanent", []error{errNoGroup}, 1, "no_such_group", false},
		// A refusal after a timeout does not undo what the timed-out
		// attempt may have granted.
		{"permanent after transient", []error{errDown, errNoGroup}, 2, "no_such_group", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := newRig(t)
			rt.esc.on("grant", tt.errs...)
			// The clean-up fails (three tries), and so does the first revoke
			// after: the grant may hold access, so it is revoked until a
			// revoke succeeds.
			rt.esc.on("revoke", errDown, errDown, errDown, errDown, nil)
			r := rt.request("1h")
			f := rt.waitFor(r.ID, latch.StatusFailed)
			ex := rt.execution(f.GrantID)
			if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
				t.Errorf("execution %s %s", e.Status, e.Error)
			}
			if n := rt.esc.count("grant"); n != tt.attempts {
				t.Errorf("grant tried %d times, want %d", n, tt.attempts)
			}
			if f.Failure == nil || f.Failure.Code != tt.code || f.Failure.Stage != latch.StageEscalate {
				t.Errorf("failure %+v, want code %s at escalate", f.Failure, tt.code)
			}
			if tt.code == "no_such_group" && f.Failure.Message != "The group does not exist." {
				t.Errorf("failure message %q", f.Failure.Message)
			}
			if tt.name == "transient" && !strings.Contains(f.Failure.Message, errDown.Error()) {
				t.Errorf("failure message %q does not say why", f.Failure.Message)
			}
			// (A revoke-only execution may have reported since.)
			if got := rt.reports(eventsQueueURL); len(got) == 0 || got[0] != "escalation_failed" {
				t.Errorf("reports %v, want escalation_failed first", got)
			}
			// A transient failure leaves the target's state unknown: what may
			// have been granted is taken back before the report (CleanUp, best
			// effort), and the grant stays open until a revoke succeeds: the
			// engine's deescalate, retried from the outbox once the execution
			// has ended, starts a revoke-only execution. A permanent refusal
			// granted nothing.
			transient := tt.held
			if slices.Contains(rt.sfn.entered(ex), sfngrants.StateCleanUp) != transient {
				t.Errorf("path %v; want a clean-up only after a transient failure", rt.sfn.entered(ex))
			}
			if transient {
				if f.Access != latch.AccessMaybeHeld {
					t.Errorf("access %q after a transient failure, want maybe_held", f.Access)
				}
				if _, err := rt.eng.DispatchPending(context.Background(), 0); err != nil {
					t.Fatal(err)
				}
				g := rt.waitGrant(f.GrantID, func(g latch.Grant) bool { return g.Status == latch.GrantEnded })
				again := rt.execution(g.ID + "-revoke-v" + itoa(g.Version-1))
				if e := rt.sfn.awaitEnd(again); e.Status != "SUCCEEDED" {
					t.Errorf("revoke-only execution %s %s", e.Status, e.Error)
				}
				if a := rt.req(r.ID).Access; a != latch.AccessRevoked {
					t.Errorf("access %q after the revoke, want revoked", a)
				}
			}
			wantRevokes := 0
			if transient {
				wantRevokes = 5 // three clean-up tries, one failed revoke, the one that worked
			}
			if n := rt.esc.count("revoke"); n != wantRevokes {
				t.Errorf("%d revokes, want %d", n, wantRevokes)
			}
			if slices.Contains(rt.sfn.entered(ex), sfngrants.StateHold) {
				t.Errorf("an escalation that failed went on: %v", rt.sfn.entered(ex))
			}
		})
	}
}

var errNoGroup = latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: "no_such_group", Message: "The group does not exist."})

func TestRevokeFailingThenSucceeding(t *testing.T) {
	rt := newRig(t)
	rt.esc.on("revoke", errDown, errDown, errDown, nil)
	r, _, ex := rt.active("1h")
	rt.do(latch.CmdRevoke, r.ID, ann)
	if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s", e.Status)
	}
	rt.waitFor(r.ID, latch.StatusEnded)
	if n := rt.sfn.count(ex, "StateRetried", sfngrants.StateRevoke); n != 3 {
		t.Errorf("revoke retried %d times, want 3", n)
	}
	if rt.esc.count("revoke") != 4 {
		t.Errorf("revoke called %d times, want 4", rt.esc.count("revoke"))
	}
	if got, want := rt.reports(eventsQueueURL), []string{"escalated", "deescalated"}; !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
}

// A revoke is never given up: an execution that has retried for a day
// reports the failure and ends (dead letter, alarm), the grant stays
// deescalating with revoke_overdue on its request, and a revoke-only
// execution goes on at once.
func TestRevokeFailingForADayIsRevokedAgain(t *testing.T) {
	rt := newRig(t)
	// DefaultTiming's waits: 1s doubling to 30s for an hour, then every 5
	// minutes for the rest of the day.
	fast := 0
	for sum, w := 0, 1; sum < 3600; fast++ {
		sum += w
		w = min(2*w, 30)
	}
	slow := (24*3600 - 3600) / 300
	calls := fast + 1 + slow + 1
	script := make([]error, calls, calls+1)
	for i := range script {
		script[i] = errDown
	}
	rt.esc.on("revoke", append(script, nil)...)
	r, g, ex := rt.active("1h")
	rt.do(latch.CmdRevoke, r.ID, ann)
	e := rt.sfn.awaitEnd(ex)
	if e.Status != "FAILED" || e.Error != sfngrants.FailedError {
		t.Fatalf("execution %s %s, want FAILED %s", e.Status, e.Error, sfngrants.FailedError)
	}
	dead := rt.reports(deadLetterURL)
	if len(dead) != 1 || !strings.Contains(dead[0], `"stage":"deescalate"`) || !strings.Contains(dead[0], g.ID) ||
		!strings.Contains(dead[0], ex.ARN) {
		t.Errorf("dead letters %v", dead)
	}
	if !contains(rt.sfn.entered(ex), "Revoke", "RevokeSlow", "DeescalationFailed", "RevokeLost", "SendToDeadLetter", "Failed") {
		t.Errorf("path %v", rt.sfn.entered(ex))
	}

	// The engine revokes again: a revoke-only execution, named by the grant's
	// version after the failure was recorded.
	g2 := rt.waitGrant(g.ID, func(g latch.Grant) bool { return g.Failure != nil })
	if g2.Status != latch.GrantDeescalating {
		t.Errorf("grant %s after the failure report, want deescalating", g2.Status)
	}
	again := rt.execution(g.ID + "-revoke-v" + itoa(g2.Version))
	if e := rt.sfn.awaitEnd(again); e.Status != "SUCCEEDED" {
		t.Fatalf("revoke execution %s %s", e.Status, e.Error)
	}
	ended := rt.waitFor(r.ID, latch.StatusEnded)
	if n := rt.esc.count("revoke"); n != calls+1 {
		t.Errorf("revoke tried %d times, want %d", n, calls+1)
	}
	if got, want := rt.reports(eventsQueueURL), []string{"escalated", "deescalation_failed", "deescalated"}; !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
	if ended.Failure != nil {
		t.Errorf("ended request carries failure %+v", ended.Failure)
	}
	evs, err := rt.store.AuditEvents(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []latch.AuditType
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if !slices.Contains(types, latch.AuditRevokeOverdue) || types[len(types)-1] != latch.AuditDeescalated {
		t.Errorf("audit trail %v, want revoke_overdue and then deescalated", types)
	}
}

func TestEarlyRevoke(t *testing.T) {
	rt := newRig(t)
	r, g, ex := rt.active("8h")
	rt.do(latch.CmdRevoke, r.ID, ann)
	if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s", e.Status)
	}
	rt.waitFor(r.ID, latch.StatusEnded)
	if got, want := rt.reports(eventsQueueURL), []string{"escalated", "deescalated"}; !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
	if rt.esc.count("revoke") != 1 {
		t.Errorf("revoked %d times", rt.esc.count("revoke"))
	}
	if got := rt.grant(g.ID); got.Status != latch.GrantEnded || got.EndedAt == nil {
		t.Errorf("grant %s", got.Status)
	}
}

// TestEarlyRevokeBetweenHolds revokes while the execution is between two
// Holds: the runner finds the last Hold's token stale, and the next Hold,
// having recorded its token, sees the revoke itself.
func TestEarlyRevokeBetweenHolds(t *testing.T) {
	rt := newRig(t)
	r, g, ex := rt.active("8h")
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	rt.setBeforeTask(func(state string, in sfngrants.TaskInput) {
		if state == sfngrants.StateHold {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
	})
	// Move the Hold (a shorter lease would do the same): the runner answers
	// the current Hold, and the next one is held back before it runs.
	if err := rt.runner.Wake(context.Background(), g.ID, time.Now().Add(7*time.Hour)); err != nil {
		t.Fatal(err)
	}
	<-entered
	before := rt.sfn.callsOf("DescribeExecution")
	rt.do(latch.CmdRevoke, r.ID, ann)
	if rt.sfn.callsOf("DescribeExecution") != before+1 {
		t.Errorf("the runner did not find the token stale and look at the execution")
	}
	if rt.esc.count("revoke") != 0 {
		t.Fatal("revoked before the Hold ran")
	}
	rt.setBeforeTask(nil)
	close(release)
	if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s", e.Status)
	}
	rt.waitFor(r.ID, latch.StatusEnded)
	if rt.esc.count("revoke") != 1 {
		t.Errorf("revoked %d times", rt.esc.count("revoke"))
	}
}

// TestEscalatedAfterHold: the engine handles escalated only once the first
// Hold waits. That Hold already waits until the lease end (fixed when the
// request was approved), so the engine's Wake leaves it: no second Hold.
// (The other order — escalated handled before the Hold runs — is what
// TestNormalPath sees.)
func TestEscalatedAfterHold(t *testing.T) {
	rt := newRig(t)
	rt.pause()
	r := rt.request("2h")
	eventually(t, func() bool { return rt.sfn.execution(rt.req(r.ID).GrantID) != nil }, func() string { return "no execution" })
	ex := rt.execution(rt.req(r.ID).GrantID)
	g := rt.grant(ex.Name)
	end, ok := g.NextDue()
	if !ok {
		t.Fatal("the approved grant has no lease end")
	}
	rt.holding(ex, holdUntil(end))
	if got := rt.grant(ex.Name).Status; got != latch.GrantEscalating {
		t.Fatalf("grant %s before escalated was handled", got)
	}
	before := rt.sfn.callsOf("SendTaskSuccess")
	rt.resume()
	rt.waitFor(r.ID, latch.StatusActive)
	rt.pause() // the escalated message handled, its effects (the Wake) carried out
	rt.holding(ex, holdUntil(end))
	if n := rt.sfn.callsOf("SendTaskSuccess"); n != before {
		t.Errorf("the Hold was answered %d times after the escalation was recorded; it waits for that end already", n-before)
	}
	if n := rt.sfn.count(ex, "StateEntered", sfngrants.StateHold); n != 1 {
		t.Errorf("%d Holds entered, want 1", n)
	}
	rt.resume()
	rt.do(latch.CmdRevoke, r.ID, ann)
	if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s", e.Status)
	}
	rt.waitFor(r.ID, latch.StatusEnded)
}

// TestExtension: a second request for the same access extends it; the grant
// is revoked only at the later end, and the first request ends at its own.
func TestExtension(t *testing.T) {
	rt := newRig(t)
	first, g, ex := rt.active("1h")
	second := rt.request("3h")
	rt.waitFor(second.ID, latch.StatusActive)
	if rt.req(second.ID).GrantID != g.ID {
		t.Fatalf("the second request has its own grant")
	}
	end1, _ := g.NextDue()
	rt.holding(ex, holdUntil(end1)) // the earlier end comes first

	rt.clock.Advance(time.Hour + time.Second)
	rt.sfn.timeOut(ex)
	rt.waitFor(first.ID, latch.StatusEnded)
	g = rt.grant(g.ID)
	if g.Status != latch.GrantActive {
		t.Fatalf("grant %s after the first lease ended", g.Status)
	}
	end2, _ := g.NextDue()
	rt.holding(ex, holdUntil(end2)) // moved by the engine's Wake
	if rt.esc.count("revoke") != 0 {
		t.Fatal("revoked while a lease holds the access")
	}

	rt.clock.Advance(2 * time.Hour)
	rt.sfn.timeOut(ex)
	if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s", e.Status)
	}
	rt.waitFor(second.ID, latch.StatusEnded)
	if got, want := rt.reports(eventsQueueURL), []string{"escalated", "due", "due", "deescalated"}; !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
	if rt.esc.count("grant") != 1 || rt.esc.count("revoke") != 1 {
		t.Errorf("escalator calls %v", rt.esc.calls)
	}
}

// TestShorterLeaseMovesHoldEarlier: a request with an earlier end joins; the
// Hold moves to it.
func TestShorterLeaseMovesHoldEarlier(t *testing.T) {
	rt := newRig(t)
	_, g, ex := rt.active("8h")
	short := rt.request("30m")
	rt.waitFor(short.ID, latch.StatusActive)
	g = rt.grant(g.ID)
	end, _ := g.NextDue()
	if s, _ := g.Lease(short.ID); !s.EndsAt.Equal(end) {
		t.Fatalf("next due %v is not the short lease's end %v", end, s.EndsAt)
	}
	rt.holding(ex, holdUntil(end))
}

// TestDueUnanswered: a due report the engine does not act on is sent again
// after DueRecheck (here: the Hold after it times out), with the same id.
func TestDueUnanswered(t *testing.T) {
	rt := newRig(t)
	_, _, ex := rt.active("1h")
	rt.pause()
	rt.clock.Advance(time.Hour + time.Second)
	rt.sfn.timeOut(ex)
	h := rt.holding(ex, func(h sfngrants.Hold) bool { return h.Recheck })
	if h.Seconds != int64(sfngrants.DefaultTiming.DueRecheck/time.Second) {
		t.Errorf("after a due report the Hold waits %ds, want DueRecheck", h.Seconds)
	}
	rt.sfn.timeOut(ex)
	eventually(t, func() bool { return len(rt.reports(eventsQueueURL)) == 3 }, func() string {
		return "reports " + strings.Join(rt.reports(eventsQueueURL), ",")
	})
	msgs := rt.messages()
	if msgs[1].Type != events.TypeDue || msgs[2].Type != events.TypeDue || msgs[1].ID != msgs[2].ID {
		t.Errorf("messages %v", msgs)
	}
	rt.resume()
	if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s", e.Status)
	}
}

// TestReportLost: a report that cannot be sent for a day goes to the
// dead-letter queue and the execution fails.
func TestReportLost(t *testing.T) {
	rt := newRig(t)
	rt.setSQSFail(func(q string) error {
		if q == eventsQueueURL {
			return errors.New("queue unavailable")
		}
		return nil
	})
	r := rt.request("1h")
	ex := rt.execution(rt.req(r.ID).GrantID)
	e := rt.sfn.awaitEnd(ex)
	if e.Status != "FAILED" {
		t.Fatalf("execution %s", e.Status)
	}
	dead := rt.reports(deadLetterURL)
	if len(dead) != 1 || !strings.Contains(dead[0], `"stage":"escalate"`) || !strings.Contains(dead[0], "queue unavailable") {
		t.Errorf("dead letters %v", dead)
	}
	if !contains(rt.sfn.entered(ex), "Escalate", "EscalateLost", "SendToDeadLetter", "Failed") {
		t.Errorf("path %v", rt.sfn.entered(ex))
	}
}

func TestEscalateTwiceStartsOneExecution(t *testing.T) {
	rt := newRig(t)
	r, g, ex := rt.active("1h")
	if err := rt.runner.Escalate(context.Background(), g.ID); err != nil {
		t.Errorf("escalate again: %v", err)
	}
	if names := rt.sfn.executions(); len(names) != 1 {
		t.Errorf("executions %v", names)
	}
	rt.do(latch.CmdRevoke, r.ID, ann)
	rt.sfn.awaitEnd(ex)
	if err := rt.runner.Escalate(context.Background(), g.ID); err != nil {
		t.Errorf("escalate after the execution ended: %v", err)
	}
	if err := rt.runner.Deescalate(context.Background(), g.ID); err != nil {
		t.Errorf("deescalate an ended grant: %v", err)
	}
	if names := rt.sfn.executions(); len(names) != 1 {
		t.Errorf("executions %v", names)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestEscalatedReportLost: the escalated report never reaches the engine
// (dead-lettered, say). The Hold after the escalate waits until the lease
// end; the reconciler, finding the grant escalating for long, asks the
// runner to escalate again, which has the Hold look again: it sends the
// escalated report again (same id), and the grant goes on as usual.
func TestEscalatedReportLost(t *testing.T) {
	rt := newRig(t)
	rt.pause()
	r := rt.request("2h")
	ex := rt.execution(rt.req(r.ID).GrantID)
	g := rt.grant(ex.Name)
	end, _ := g.NextDue()
	rt.holding(ex, holdUntil(end))
	rt.mu.Lock()
	lost := len(rt.queue)
	rt.queue = nil // the escalated report, lost
	rt.mu.Unlock()
	if lost != 1 {
		t.Fatalf("%d messages queued, want the escalated report", lost)
	}
	rt.resume()

	// Asked before the grant has been escalating for DueRecheck, the Hold
	// looks again (a Recheck Hold, which answers itself with a Hold until
	// the end) and waits on; asked after, it reports again.
	holds := rt.sfn.count(ex, "StateEntered", sfngrants.StateHold)
	if err := rt.runner.Escalate(context.Background(), g.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return rt.sfn.count(ex, "StateEntered", sfngrants.StateHold) == holds+2 },
		func() string { return fmt.Sprintf("path %v", rt.sfn.entered(ex)) })
	rt.holding(ex, holdUntil(end))
	if got := rt.reports(eventsQueueURL); len(got) != 1 {
		t.Errorf("reports %v, want the first escalated only", got)
	}
	rt.clock.Advance(sfngrants.DefaultTiming.DueRecheck)
	if err := rt.runner.Escalate(context.Background(), g.ID); err != nil {
		t.Fatal(err)
	}
	rt.waitFor(r.ID, latch.StatusActive)
	msgs := rt.messages()
	if len(msgs) != 2 || msgs[1].Type != events.TypeEscalated || msgs[1].ID != msgs[0].ID {
		t.Errorf("messages %+v, want the escalated report sent again with its id", msgs)
	}
	rt.holding(ex, holdUntil(end))
	if n := rt.esc.count("grant"); n != 1 {
		t.Errorf("granted %d times, want once", n)
	}
	rt.do(latch.CmdRevoke, r.ID, ann)
	if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s", e.Status)
	}
}

// TestExtendMovesTheHoldAndTellsTheTarget: ann's hour is extended by two
// (the flow grants it at once). Her target follows ends, so the execution
// is answered with regrant: the Regrant task sends the grant again with the
// new end, and the Hold moves to it. Nothing is revoked at the old end; at
// the new end the grant is revoked as usual.
func TestExtendMovesTheHoldAndTellsTheTarget(t *testing.T) {
	rt := newRig(t)
	rt.esc.mu.Lock()
	rt.esc.follows = true
	rt.esc.mu.Unlock()
	r, g, ex := rt.active("1h")
	end1, _ := g.NextDue()
	err := rt.eng.Handle(context.Background(), latch.Command{ID: "cmd_extend", Kind: latch.CmdExtend, RequestID: r.ID,
		Actor: latch.Actor{Email: ann}, Duration: 7200, Reason: "the migration runs late", Source: latch.SourceAPI, At: rt.clock.Now()})
	if err != nil {
		t.Fatalf("extend: %v", err)
	}
	end2 := end1.Add(2 * time.Hour)
	if got := rt.req(r.ID); !got.EndsAt.Equal(end2) {
		t.Fatalf("the request ends %v, want %v", got.EndsAt, end2)
	}
	rt.holding(ex, holdUntil(end2))
	eventually(t, func() bool { return contains(rt.sfn.entered(ex), "Hold", "Answer", "Regrant", "Hold") },
		func() string {
			return fmt.Sprintf("path %v, want the Hold answered with Regrant, then a Hold", rt.sfn.entered(ex))
		})
	grants := rt.esc.specs("grant")
	if len(grants) != 2 || !grants[0].EndsAt.Equal(end1) || !grants[1].EndsAt.Equal(end2) || grants[1].GrantID != g.ID {
		t.Fatalf("grant calls %+v, want the grant at %v, then again at %v", grants, end1, end2)
	}

	// The old end passes: the Hold, timed out, finds nothing due.
	rt.clock.Advance(time.Hour + time.Second)
	rt.sfn.timeOut(ex)
	rt.holding(ex, holdUntil(end2))
	if rt.esc.count("revoke") != 0 || rt.req(r.ID).Status != latch.StatusActive {
		t.Fatalf("revoked at the old end (revokes %d, request %s)", rt.esc.count("revoke"), rt.req(r.ID).Status)
	}

	rt.clock.Advance(2 * time.Hour)
	rt.sfn.timeOut(ex)
	if e := rt.sfn.awaitEnd(ex); e.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s %s", e.Status, e.Error, e.Cause)
	}
	rt.waitFor(r.ID, latch.StatusEnded)
	if got, want := rt.reports(eventsQueueURL), []string{"escalated", "due", "deescalated"}; !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
	if msgs := rt.messages(); msgs[1].ID != "due/"+g.ID+"/"+itoa(end2.UnixNano()) {
		t.Errorf("due report %s, want the new end's", msgs[1].ID)
	}
	if rt.esc.count("revoke") != 1 {
		t.Errorf("escalator calls %v, want one revoke", rt.esc.calls)
	}
}

// TestExtendOfATargetLatchRevokes: a target that does not follow ends is
// not called again; the Hold still moves to the new end.
func TestExtendOfATargetLatchRevokes(t *testing.T) {
	rt := newRig(t)
	_, g, ex := rt.active("1h")
	end1, _ := g.NextDue()
	second := rt.request("3h") // a second lease, with a later end
	rt.waitFor(second.ID, latch.StatusActive)
	end2 := rt.grant(g.ID).Leases[1].EndsAt
	if !end2.After(end1) {
		t.Fatalf("the second lease ends %v, not after %v", end2, end1)
	}
	eventually(t, func() bool { return contains(rt.sfn.entered(ex), "Answer", "Regrant", "Hold") },
		func() string { return fmt.Sprintf("path %v, want the Hold answered with Regrant", rt.sfn.entered(ex)) })
	rt.holding(ex, holdUntil(end1)) // the earlier end still comes first
	if n := rt.esc.count("grant"); n != 1 {
		t.Errorf("escalator Grant called %d times, want once: the target does not follow ends", n)
	}
}
