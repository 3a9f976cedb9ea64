package slackapp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// Admins of the rig's workspace: dan's Slack id is recorded in Latch, eve
// is found by email; bots never get DMs.
const (
	danID = "U0DAN"
	eveID = "U0EVE"
	dan   = "dan@example.com"
	eve   = "eve@example.com"
)

// injected is an escalator's error written to ping everyone and phish.
const injected = "<!channel> <https://evil.example|x>"

// addAdmins records dan and eve as admins, and a bot with role admin, and
// car as a plain member.
func (r *rig) addAdmins() {
	r.t.Helper()
	ctx := context.Background()
	r.slack.AddUser(danID, team, dan)
	r.slack.AddUser(eveID, team, eve)
	for _, u := range []latch.User{
		{ID: "usr_dan", Email: dan, Role: latch.RoleAdmin, Kind: latch.KindPerson, SlackIDs: map[string]string{team: danID}},
		{ID: "usr_eve", Email: eve, Role: latch.RoleAdmin, Kind: latch.KindPerson},
		{ID: "usr_bot", Email: "deploy.bot@bots.latch", Role: latch.RoleAdmin, Kind: latch.KindBot},
		{ID: "usr_car", Email: car, Role: latch.RoleMember, Kind: latch.KindPerson, SlackIDs: map[string]string{team: carID}},
	} {
		u.CreatedAt = time.Now()
		if err := r.store.PutUser(ctx, u); err != nil {
			r.t.Fatal(err)
		}
	}
}

// active submits ann's request and has bob approve it, and returns it once
// its access is active.
func (r *rig) active() latch.Request {
	r.t.Helper()
	req := r.submitValid()
	refs, _ := r.store.MessageRefs(context.Background(), req.ID)
	r.interact(click(bobID, team, "approve", req.ID, refs[0].Channel, refs[0].TS, ""))
	var got latch.Request
	eventually(r.t, "access active", func() bool {
		got, _ = r.store.GetRequest(context.Background(), req.ID)
		return got.Status == latch.StatusActive && got.EndsAt != nil
	})
	return got
}

// topLevel returns the texts of the messages posted to channel outside
// any thread.
func topLevel(s *slacktest.Server, channel string) []string {
	var out []string
	for _, c := range s.CallsTo("chat.postMessage") {
		if c.Param("channel") == channel && c.Param("thread_ts") == "" && c.Error == "" {
			out = append(out, c.Param("text"))
		}
	}
	return out
}

func matching(texts []string, part string) []string {
	var out []string
	for _, s := range texts {
		if strings.Contains(s, part) {
			out = append(out, s)
		}
	}
	return out
}

// An overdue revoke is posted once in the approval channel and the
// approval message's thread, and sent to each admin, with the target's
// last error shown as text; a repeated notification posts nothing more.
func TestOverdueRevokeAlertsChannelThreadAndAdmins(t *testing.T) {
	r := newRig(t)
	r.addAdmins()
	req := r.active()
	ctx := context.Background()
	refs, _ := r.store.MessageRefs(ctx, req.ID)
	channel, ts := refs[0].Channel, refs[0].TS
	if channel != r.slack.ChannelID("access-requests") {
		t.Fatalf("approval message in %s, want #access-requests", channel)
	}

	err := r.eng.Handle(ctx, latch.Command{ID: "overdue-1", Kind: latch.CmdOverdue, GrantID: req.GrantID,
		At: req.EndsAt.Add(90 * time.Second), Failure: &latch.Failure{Code: "revoke_overdue", Message: injected}})
	if err != nil {
		t.Fatal(err)
	}
	const title = "Revoke overdue"
	eventually(t, "overdue alert in the channel, the thread and both admins' DMs", func() bool {
		return len(matching(topLevel(r.slack, "#access-requests"), title)) == 1 && len(matching(threadReplies(r.slack, channel, ts), title)) == 1 &&
			len(matching(r.dmsTo(danID), title)) == 1 && len(matching(r.dmsTo(eveID), title)) == 1
	})
	alerts := append(matching(topLevel(r.slack, "#access-requests"), title), matching(threadReplies(r.slack, channel, ts), title)...)
	alerts = append(alerts, matching(r.dmsTo(danID), title)...)
	alerts = append(alerts, matching(r.dmsTo(eveID), title)...)
	for _, a := range alerts {
		if strings.Contains(a, "<!channel>") || strings.Contains(a, "<https://evil.example") {
			t.Errorf("alert %q acts on the last error instead of showing it", a)
		}
		if !containsAll(a, "Last error: “&lt;!channel&gt; &lt;https://evil.example|x&gt;”", "<@"+annID+">",
			"*Production access*", "*Production database*", "1m30s past its end", "`"+req.ID+"`") {
			t.Errorf("alert %q does not name the request, the person, the target, the delay and the escaped error", a)
		}
	}
	if dm := matching(r.dmsTo(danID), title)[0]; !strings.Contains(dm, "<"+slacktest.Permalink(channel, ts)+"|") {
		t.Errorf("admin DM %q does not link to the approval message", dm)
	}
	if len(r.dmsTo(carID)) != 0 {
		t.Errorf("car, not an admin, got %v", r.dmsTo(carID))
	}
	if refused := r.slack.Refused(); len(refused) > 0 {
		t.Errorf("Slack refused %d calls: %v", len(refused), refused)
	}

	// The outbox retrying the notification posts nothing twice.
	calls := len(r.slack.CallsTo("chat.postMessage"))
	got, _ := r.store.GetRequest(ctx, req.ID)
	if err := r.app.Notify(ctx, latch.AuditRevokeOverdue, got); err != nil {
		t.Fatal(err)
	}
	if n := len(r.slack.CallsTo("chat.postMessage")); n != calls {
		t.Errorf("%d messages posted by a repeated notification, want none", n-calls)
	}
}

// An overdue alert that Slack fails to take in part is retried, and the
// retry posts only what is missing.
func TestOverdueAlertRetryPostsOnlyWhatIsMissing(t *testing.T) {
	r := newRig(t)
	r.addAdmins()
	req := r.active()
	ctx := context.Background()
	refs, _ := r.store.MessageRefs(ctx, req.ID)
	channel, ts := refs[0].Channel, refs[0].TS
	if err := r.eng.Handle(ctx, latch.Command{ID: "overdue-1", Kind: latch.CmdOverdue, GrantID: req.GrantID,
		At: req.EndsAt.Add(time.Minute), Failure: &latch.Failure{Code: "revoke_overdue", Message: "503 from the target"}}); err != nil {
		t.Fatal(err)
	}
	const title = "Revoke overdue"
	eventually(t, "overdue alert told", func() bool { return len(matching(r.dmsTo(eveID), title)) == 1 })

	// A new notification of the same event, where Slack is down for the
	// first admin DM: the call fails to be retried, and the retry adds
	// nothing already posted.
	got, _ := r.store.GetRequest(ctx, req.ID)
	r.slack.FailNext("conversations.open", "internal_error")
	if err := r.app.Notify(ctx, latch.AuditRevokeOverdue, got); err == nil {
		t.Fatal("Notify succeeded while Slack failed, want an error to retry")
	}
	if err := r.app.Notify(ctx, latch.AuditRevokeOverdue, got); err != nil {
		t.Fatal(err)
	}
	for what, n := range map[string]int{
		"channel": len(matching(topLevel(r.slack, "#access-requests"), title)), "thread": len(matching(threadReplies(r.slack, channel, ts), title)),
		"dan": len(matching(r.dmsTo(danID), title)), "eve": len(matching(r.dmsTo(eveID), title)),
	} {
		if n != 1 {
			t.Errorf("%d overdue alerts to %s, want 1", n, what)
		}
	}
}

// A failed request whose access may still be held says so in its approval
// message and the requester's DM; the DM says admins were told only when
// they were.
func TestFailedMaybeHeldSaysAccessMayStillBeInPlace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		admins bool
		access latch.AccessState
	}{
		{"maybe held, admins told", true, latch.AccessMaybeHeld},
		{"maybe held, no admin in Slack", false, latch.AccessMaybeHeld},
		{"refused outright", true, latch.AccessRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			if tc.admins {
				r.addAdmins()
			}
			req := r.submitValid()
			ctx := context.Background()
			refs, _ := r.store.MessageRefs(ctx, req.ID)
			channel, ts := refs[0].Channel, refs[0].TS
			failed := req
			failed.Status = latch.StatusFailed
			failed.Access = tc.access
			failed.Failure = &latch.Failure{Code: "timeout", Message: injected, Stage: latch.StageEscalate, MaybeHeld: tc.access == latch.AccessMaybeHeld}
			if err := r.app.Notify(ctx, latch.AuditFailed, failed); err != nil {
				t.Fatal(err)
			}

			updates := r.slack.CallsTo("chat.update")
			if len(updates) == 0 || updates[len(updates)-1].Param("ts") != ts || updates[len(updates)-1].Param("channel") != channel {
				t.Fatalf("approval message not updated: %v", updates)
			}
			status := text([]map[string]any{block(t, messageBlocks(t, updates[len(updates)-1]), "status")})
			dms := r.dmsTo(annID)
			if len(dms) != 1 {
				t.Fatalf("ann got %d DMs, want 1: %v", len(dms), dms)
			}
			dm := dms[0]
			const held = "may still be in place"
			if want := tc.access == latch.AccessMaybeHeld; strings.Contains(status, held) != want || strings.Contains(dm, held) != want {
				t.Errorf("status %q / DM %q: saying access %s = %v, want %v", status, dm, held, !want, want)
			}
			if tc.access == latch.AccessMaybeHeld && (!strings.Contains(status, "Latch keeps revoking it") || !strings.Contains(dm, "Latch keeps revoking it")) {
				t.Errorf("status %q / DM %q do not say Latch keeps revoking", status, dm)
			}
			if strings.Contains(dm, "Admins have been told") != tc.admins {
				t.Errorf("DM %q: says admins were told = %v, want %v", dm, !tc.admins, tc.admins)
			}
			if strings.Contains(dm, "<!channel>") || strings.Contains(status, "<!channel>") {
				t.Errorf("status %q / DM %q act on the failure's message", status, dm)
			}
			if tc.admins {
				for _, id := range []string{danID, eveID} {
					if got := r.dmsTo(id); len(got) != 1 || !containsAll(got[0], "<@"+annID+">", "*Failed*", "&lt;!channel&gt;") {
						t.Errorf("admin %s got %v, want one DM about ann's failed request", id, got)
					}
				}
				// Told once: the outbox retrying tells no admin again.
				if err := r.app.Notify(ctx, latch.AuditFailed, failed); err != nil {
					t.Fatal(err)
				}
				if n := len(r.dmsTo(danID)); n != 1 {
					t.Errorf("dan got %d DMs after a repeated notification, want 1", n)
				}
			}
		})
	}
}
