package slackapp_test

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// held keeps the app's work after its answers until the test runs it, so
// that what happened before an answer can be told from what happened
// after.
type held struct {
	mu   sync.Mutex
	work []func()
}

func (h *held) add(work func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.work = append(h.work, work)
}

// run runs the held work, in order, and returns how much there was.
func (h *held) run() int {
	h.mu.Lock()
	work := h.work
	h.work = nil
	h.mu.Unlock()
	for _, w := range work {
		w()
	}
	return len(work)
}

// methods lists the methods of calls.
func methods(calls []slacktest.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Method
	}
	return out
}

// With a Slack that takes 1.1 s per call, every command and click is still
// answered within Slack's 3 s: the only Web API call made before an answer
// is the views.open that needs the trigger id; look-ups and decisions come
// after it.
func TestCommandsAndClicksAnswerWithinSlacksBudget(t *testing.T) {
	r := newRig(t)
	h := &held{}
	r.app.After = h.add
	// A new request goes to a queue, as in Latch's servers: it is created,
	// and its approval message posted, after the answer.
	r.app.Submit = func(_ context.Context, in engine.CreateInput) error {
		h.add(func() {
			if _, err := r.eng.Create(context.Background(), in); err != nil {
				t.Errorf("create: %v", err)
			}
		})
		return nil
	}
	r.slack.SetLatency(1100 * time.Millisecond)

	before := func(what string, act func() (int, map[string]any), want ...string) map[string]any {
		t.Helper()
		n := len(r.slack.Calls())
		status, answer := act()
		if status != http.StatusOK {
			t.Fatalf("%s: status %d", what, status)
		}
		if got := methods(r.slack.Calls()[n:]); !slices.Equal(got, want) {
			t.Errorf("%s: Web API calls before the answer %v, want %v", what, got, want)
		}
		return answer
	}

	// /latch by someone Latch has not looked up: a loading modal at once,
	// the form after.
	if answer := before("/latch req", func() (int, map[string]any) { return r.command(annID, team, "req prod-access") }, "views.open"); answer != nil {
		t.Fatalf("/latch req answered %v, want an empty 200", answer)
	}
	if v := r.slack.ShownView(t); v["callback_id"] != "latch_loading" {
		t.Errorf("first view %v, want the loading modal", v["callback_id"])
	}
	if h.run() != 1 {
		t.Fatal("no work after the answer")
	}
	form := r.slack.ShownView(t)
	if form["callback_id"] != "latch_request" {
		t.Fatalf("after the answer the modal shows %v, want the form", form["callback_id"])
	}

	// The form carries who it was opened for: submitting it asks Slack
	// nothing.
	values := map[string]map[string]any{
		"target_id": {"type": "static_select", "selected_option": map[string]any{"text": map[string]any{"type": "plain_text", "text": "DB"}, "value": "prod-db"}},
		"reason":    {"type": "plain_text_input", "value": "incident"}}
	answer := before("submission", func() (int, map[string]any) { return r.interact(submission(annID, team, form, values)) })
	if answer["response_action"] != "update" {
		t.Fatalf("submission answered %v", answer)
	}
	// The same submission again (Slack's retry, a double click) gets the
	// same answer and creates nothing more.
	again := before("repeated submission", func() (int, map[string]any) { return r.interact(submission(annID, team, form, values)) })
	if !reflect.DeepEqual(again, answer) {
		t.Errorf("repeated submission answered %v, want %v", again, answer)
	}
	if n := h.run(); n != 1 || len(r.requests()) != 1 {
		t.Errorf("%d creations queued, %d requests; want one of each", n, len(r.requests()))
	}
	eventually(t, "approval message posted", func() bool { return len(r.slack.CallsTo("chat.postMessage")) == 1 })
	req := r.requests()[0]
	ref, _ := r.store.MessageRefs(context.Background(), req.ID)

	// Someone known opens a form: the form itself, at once.
	before("/latch req again", func() (int, map[string]any) { return r.command(annID, team, "req prod-access") }, "views.open")
	if v := r.slack.ShownView(t); v["callback_id"] != "latch_request" {
		t.Errorf("a known person was shown %v, want the form at once", v["callback_id"])
	}

	// A click is acknowledged before anything else.
	before("approve", func() (int, map[string]any) {
		return r.interact(click(bobID, team, "approve", req.ID, ref[0].Channel, ref[0].TS, "ok"))
	})
	before("refused click", func() (int, map[string]any) {
		return r.interact(click(carID, team, "approve", req.ID, ref[0].Channel, ref[0].TS, ""))
	})
	before("whoami", func() (int, map[string]any) { return r.command(carID, team, "whoami") })
	before("help", func() (int, map[string]any) { return r.command(carID, team, "help") })

	if n := h.run(); n != 3 {
		t.Fatalf("%d pieces of work after the answers, want 3 (approve, the refusal, whoami)", n)
	}
	eventually(t, "approved", func() bool {
		got, _ := r.store.GetRequest(context.Background(), req.ID)
		return len(got.Approvals) == 1
	})
	msgs := r.responses()
	if len(msgs) != 2 || !strings.Contains(msgs[0], req.ID) || !strings.Contains(msgs[1], car) {
		t.Errorf("responses %q, want the refusal then whoami", msgs)
	}
}

// Every call before the answer has a deadline from the budget: a Slack
// slower than 3 s gets the person told to try again, in time.
func TestACallPastTheBudgetIsCutShort(t *testing.T) {
	r := newRig(t)
	r.app.After = (&held{}).add
	r.slack.SetLatency(10 * time.Second)
	status, answer := r.command(annID, team, "req prod-access")
	if status != http.StatusOK || !strings.Contains(answer["text"].(string), "took too long") {
		t.Errorf("answer %d %v, want one saying Slack took too long", status, answer)
	}
}
