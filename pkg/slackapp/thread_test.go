package slackapp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// threadReplies returns the texts posted in the thread of the message at
// ts in channel.
func threadReplies(s *slacktest.Server, channel, ts string) []string {
	var out []string
	for _, c := range s.CallsTo("chat.postMessage") {
		if c.Param("channel") == channel && c.Param("thread_ts") == ts && c.Error == "" {
			out = append(out, c.Param("text"))
		}
	}
	return out
}

// Every later step of a request is told in its approval message's thread,
// once; the requester's DMs link to it.
func TestLaterMessagesGoToTheApprovalThread(t *testing.T) {
	r := newRig(t)
	req := r.submitValid()
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	channel, ts := ref[0].Channel, ref[0].TS
	r.interact(click(bobID, team, "approve", req.ID, channel, ts, "fine <!here>"))
	eventually(t, "access granted and told in the thread", func() bool {
		replies := threadReplies(r.slack, channel, ts)
		return len(replies) == 2 && strings.Contains(replies[1], "Access granted")
	})
	replies := threadReplies(r.slack, channel, ts)
	if !strings.Contains(replies[0], "Approved by <@"+bobID+">") || !strings.Contains(replies[0], "fine &lt;!here&gt;") {
		t.Errorf("first reply %q, want bob's approval with his reason, escaped", replies[0])
	}
	eventually(t, "ann DM'd", func() bool { return len(r.dmsTo(annID)) == 2 })
	permalink := slacktest.Permalink(channel, ts)
	for _, dm := range r.dmsTo(annID) {
		if !strings.Contains(dm, "<"+permalink+"|") {
			t.Errorf("DM %q does not link to the approval message %s", dm, permalink)
		}
	}

	// A notification sent again (the outbox retrying) is not told twice.
	got, _ := r.store.GetRequest(context.Background(), req.ID)
	if err := r.app.Notify(context.Background(), latch.AuditEscalated, got); err != nil {
		t.Fatal(err)
	}
	if n := len(threadReplies(r.slack, channel, ts)); n != 2 {
		t.Errorf("%d thread replies after a repeated notification, want 2", n)
	}
}
