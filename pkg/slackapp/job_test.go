package slackapp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp"
)

// jobQueue is a queue of encoded jobs, as App.Defer on Lambda hands them
// over: it records what was queued, and when, among the Web API calls.
type jobQueue struct {
	mu   sync.Mutex
	jobs [][]byte
}

func (q *jobQueue) take() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	jobs := q.jobs
	q.jobs = nil
	return jobs
}

// With a Slack that takes 1.1 s per call and the work after each answer
// handed to a queue (as the Slack function on Lambda does), every command,
// click and event is answered before any Web API call but the views.open
// that needs the trigger id; the queued jobs, decoded and run as the
// queue's consumer does, then do what the in-process work does.
func TestQueuedWorkIsDoneAfterTheAnswer(t *testing.T) {
	r := newRig(t)
	req := r.submitValid()
	eventually(t, "approval message posted", func() bool { return len(r.slack.CallsTo("chat.postMessage")) > 0 })
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)
	if len(ref) == 0 {
		t.Fatal("no approval message")
	}

	q := &jobQueue{}
	r.app.Defer = func(_ context.Context, job slackapp.Job) error {
		b, err := r.app.EncodeJob(job)
		if err != nil {
			return err
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		q.jobs = append(q.jobs, b)
		return nil
	}
	r.app.After = func(func()) { t.Error("work after an answer ran in the process that answered, not from the queue") }
	r.slack.SetLatency(1100 * time.Millisecond)

	before := func(what string, act func() int, want ...string) {
		t.Helper()
		n := len(r.slack.Calls())
		if status := act(); status != http.StatusOK {
			t.Fatalf("%s: status %d", what, status)
		}
		if got := methods(r.slack.Calls()[n:]); !slices.Equal(got, want) {
			t.Errorf("%s: Web API calls before the answer %v, want %v", what, got, want)
		}
	}
	// car has not been looked up: a loading modal, then the form.
	before("/latch req", func() int { s, _ := r.command(carID, team, "req prod-access"); return s }, "views.open")
	before("approve", func() int {
		s, _ := r.interact(click(bobID, team, "approve", req.ID, ref[0].Channel, ref[0].TS, "looks fine"))
		return s
	})
	before("whoami", func() int { s, _ := r.command(annID, team, "whoami"); return s })
	home, _ := json.Marshal(map[string]any{"team_id": team, "api_app_id": "A0LATCH", "type": "event_callback", "event_id": "Ev0QUEUED",
		"event_time": 1700000000, "event": map[string]any{"type": "app_home_opened", "user": bobID, "tab": "home", "event_ts": "1700000000.000200"}})
	before("app_home_opened", func() int { s, _ := r.post("/slack/events", "application/json", home); return s })
	if len(r.slack.Responses()) != 0 || r.slack.HomeView(bobID) != nil {
		t.Fatal("work was done before its job ran")
	}

	jobs := q.take()
	if len(jobs) != 4 {
		t.Fatalf("%d jobs queued, want 4 (the form, the approval, whoami, the Home tab)", len(jobs))
	}
	for i, b := range jobs {
		if len(b) > slackapp.MaxJob {
			t.Errorf("job %d is %d bytes, more than a queue holds", i, len(b))
		}
		job, err := r.app.DecodeJob(b)
		if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		if err := r.app.RunJob(context.Background(), job); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	if v := r.slack.ShownView(t); v["callback_id"] != "latch_request" {
		t.Errorf("after the job the modal shows %v, want the form", v["callback_id"])
	}
	eventually(t, "approved", func() bool {
		got, _ := r.store.GetRequest(context.Background(), req.ID)
		return len(got.Approvals) == 1 && got.Approvals[0].Reason == "looks fine"
	})
	if msgs := r.responses(); len(msgs) != 1 || !strings.Contains(msgs[0], ann) {
		t.Errorf("responses %q, want whoami's", msgs)
	}
	if r.slack.HomeView(bobID) == nil {
		t.Error("no Home tab published by the event's job")
	}
}

// A job reads back as it was queued, and only an app with the same signing
// secret, within 30 minutes, reads it at all.
func TestJobEncoding(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := func(at time.Time) latch.Clock { return latch.ClockFunc(func() time.Time { return at }) }
	app := &slackapp.App{SigningSecret: signingSecret, Clock: clock(now)}
	job := slackapp.Job{Kind: slackapp.JobInteraction, View: "V0LOADING", Hash: "1712.abc",
		Body: []byte("payload=%7B%22type%22%3A%22block_actions%22%2C%22text%22%3A%22%5Cu0000%3C%21channel%3E+%E2%80%9Cquoted%E2%80%9D%22%7D")}
	b, err := app.EncodeJob(job)
	if err != nil {
		t.Fatal(err)
	}
	if !slackapp.IsJob(b) || slackapp.IsJob([]byte(`{"version":"2.0","routeKey":"POST /slack/commands"}`)) {
		t.Error("IsJob does not tell a job from an API Gateway event")
	}
	got, err := app.DecodeJob(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(job, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}

	tampered := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	for _, tc := range []struct {
		name string
		app  *slackapp.App
		give []byte
	}{
		{"another body", app, tampered(func(m map[string]any) { m["body"] = "payload=%7B%7D" })},
		{"another view", app, tampered(func(m map[string]any) { m["view"] = "V0OTHER" })},
		{"another kind", app, tampered(func(m map[string]any) { m["kind"] = "command" })},
		{"no mac", app, tampered(func(m map[string]any) { delete(m, "mac") })},
		{"another secret", &slackapp.App{SigningSecret: []byte("rotated-secret"), Clock: clock(now)}, b},
		{"no secret", &slackapp.App{Clock: clock(now)}, b},
		{"too old", &slackapp.App{SigningSecret: signingSecret, Clock: clock(now.Add(31 * time.Minute))}, b},
		{"too large", app, append(b, make([]byte, slackapp.MaxJob)...)},
		{"not JSON", app, []byte("payload=")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.app.DecodeJob(tc.give); err == nil {
				t.Error("decoded, want an error")
			}
		})
	}

	if _, err := app.EncodeJob(slackapp.Job{Kind: slackapp.JobEvent, Body: make([]byte, slackapp.MaxJob)}); err == nil {
		t.Error("a job over MaxJob was encoded")
	}
	if _, err := (&slackapp.App{}).EncodeJob(job); err == nil {
		t.Error("an app without a signing secret encoded a job")
	}
}

// When the queue refuses a job, its work is done through After, as without
// a queue: nothing is lost.
func TestWorkRunsHereWhenTheQueueFails(t *testing.T) {
	r := newRig(t)
	r.app.Defer = func(context.Context, slackapp.Job) error { return context.DeadlineExceeded }
	if status, _ := r.command(annID, team, "whoami"); status != http.StatusOK {
		t.Fatalf("whoami: %d", status)
	}
	if msgs := r.responses(); len(msgs) != 1 || !strings.Contains(msgs[0], ann) {
		t.Errorf("responses %q, want whoami's", msgs)
	}
}
