package sfngrants_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sfngrants"
)

func activeGrant(ends ...time.Time) latch.Grant {
	g := latch.Grant{ID: "grt_9", Flow: flowName, TargetID: targetID, User: latch.UserRef{Email: ann},
		Status: latch.GrantActive, Version: 4}
	for i, e := range ends {
		g.Leases = append(g.Leases, latch.Lease{RequestID: "req_" + string(rune('a'+i)), EndsAt: e})
	}
	return g
}

// changed sets when g last changed.
func changed(g latch.Grant, at time.Time) latch.Grant { g.UpdatedAt = at; return g }

func TestDecideHold(t *testing.T) {
	now := fixedNow
	timing := sfngrants.DefaultTiming
	end := now.Add(2*time.Hour + 500*time.Millisecond)
	endS := end.Format(time.RFC3339Nano)
	past := now.Add(-time.Minute)
	pastS := past.Format(time.RFC3339Nano)
	with := func(s latch.GrantStatus, g latch.Grant) latch.Grant { g.Status = s; return g }
	escalating := func(since time.Duration, ends ...time.Time) latch.Grant {
		return changed(with(latch.GrantEscalating, activeGrant(ends...)), now.Add(-since))
	}
	for _, tt := range []struct {
		name   string
		g      latch.Grant
		hold   sfngrants.Hold
		report events.Type // the report sent, if any
		action string      // "" leaves the Hold waiting
		want   *sfngrants.Hold
	}{
		{name: "deescalating", g: with(latch.GrantDeescalating, activeGrant(end)), hold: sfngrants.Hold{Until: endS}, action: "deescalate"},
		{name: "ended", g: with(latch.GrantEnded, activeGrant(end)), action: "end"},
		{name: "failed", g: with(latch.GrantFailed, activeGrant(end)), action: "end"},
		{name: "escalating, holding for its end already: the engine's wake-up will find it so",
			g: escalating(time.Second, end), hold: sfngrants.Hold{Until: endS, Seconds: 7201}},
		{name: "escalating, holding for another end", g: escalating(time.Second, end), hold: sfngrants.Hold{Seconds: 86400},
			action: "hold", want: &sfngrants.Hold{Until: endS, Seconds: 7201}},
		{name: "escalating for long, on a recheck: the report was lost, send it again", g: escalating(16*time.Minute, end),
			hold: sfngrants.Hold{Until: endS, Seconds: 900, Recheck: true}, report: events.TypeEscalated,
			action: "hold", want: &sfngrants.Hold{Until: endS, Seconds: 7201}},
		{name: "escalating for long, not a recheck", g: escalating(16*time.Minute, end), hold: sfngrants.Hold{Until: endS, Seconds: 7201}},
		{name: "escalating past its end: look again every DueRecheck", g: escalating(time.Minute, past),
			hold: sfngrants.Hold{Until: pastS, Seconds: 1}},
		{name: "escalating past its end, long hold", g: escalating(time.Minute, past),
			hold: sfngrants.Hold{Until: pastS, Seconds: 3600}, action: "hold", want: &sfngrants.Hold{Until: pastS, Seconds: 900, Recheck: true}},
		{name: "escalating past its end for long", g: escalating(20*time.Minute, past),
			hold: sfngrants.Hold{Until: pastS, Seconds: 900, Recheck: true}, report: events.TypeEscalated},
		{name: "holding for the end already", g: activeGrant(end), hold: sfngrants.Hold{Until: endS, Seconds: 7201}},
		{name: "fresh hold learns the end", g: activeGrant(end), hold: sfngrants.Hold{Seconds: 900, Recheck: true}, action: "hold",
			want: &sfngrants.Hold{Until: endS, Seconds: 7201}},
		{name: "a recheck before the end holds until it", g: activeGrant(end), hold: sfngrants.Hold{Until: endS, Seconds: 900, Recheck: true},
			action: "hold", want: &sfngrants.Hold{Until: endS, Seconds: 7201}},
		{name: "end moved", g: activeGrant(end.Add(time.Hour), end), hold: sfngrants.Hold{Until: now.Add(time.Hour).Format(time.RFC3339Nano)},
			action: "hold", want: &sfngrants.Hold{Until: endS, Seconds: 7201}},
		{name: "no end", g: activeGrant(time.Time{}), hold: sfngrants.Hold{Seconds: 86400}},
		{name: "end removed", g: activeGrant(time.Time{}), hold: sfngrants.Hold{Until: endS}, action: "hold",
			want: &sfngrants.Hold{Seconds: 86400}},
		{name: "far end is capped", g: activeGrant(now.Add(90 * 24 * time.Hour)), action: "hold",
			want: &sfngrants.Hold{Until: now.Add(90 * 24 * time.Hour).Format(time.RFC3339Nano), Seconds: 86400}},
		{name: "due: report, and wait for the engine", g: activeGrant(past), hold: sfngrants.Hold{Until: pastS, Seconds: 3}, report: events.TypeDue},
		{name: "due on a recheck: report again", g: activeGrant(past), hold: sfngrants.Hold{Until: pastS, Seconds: 900, Recheck: true},
			report: events.TypeDue},
		{name: "due, holding long: report, wait at most DueRecheck", g: activeGrant(past), hold: sfngrants.Hold{Until: pastS, Seconds: 7200},
			report: events.TypeDue, action: "hold", want: &sfngrants.Hold{Until: pastS, Seconds: 900, Recheck: true}},
		{name: "due, holding for another end", g: activeGrant(past), hold: sfngrants.Hold{Until: endS, Seconds: 900},
			report: events.TypeDue, action: "hold", want: &sfngrants.Hold{Until: pastS, Seconds: 900, Recheck: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := sfngrants.DecideHold(tt.g, now, tt.hold, timing)
			switch {
			case tt.report == "" && d.Report != nil:
				t.Errorf("report %s %s, want none", d.Report.Type, d.Report.ID)
			case tt.report != "" && (d.Report == nil || d.Report.Type != tt.report):
				t.Errorf("report %+v, want %s", d.Report, tt.report)
			case tt.report == events.TypeEscalated && d.Report.ID != "escalated/grt_9/v4":
				t.Errorf("report %s, want escalated/grt_9/v4 again", d.Report.ID)
			case tt.report == events.TypeDue && (d.Report.ID != "due/grt_9/"+itoa(past.UnixNano()) || d.Report.GrantID != tt.g.ID || d.Report.At.Before(past)):
				t.Errorf("due report %+v", d.Report)
			}
			if d.Answer == nil {
				if tt.action != "" {
					t.Fatalf("the Hold waits; want %s", tt.action)
				}
				return
			}
			if d.Answer.Action != tt.action {
				t.Fatalf("answer %s, want %s", d.Answer.Action, tt.action)
			}
			if (d.Answer.Hold == nil) != (tt.want == nil) || (d.Answer.Hold != nil && *d.Answer.Hold != *tt.want) {
				t.Errorf("hold %+v, want %+v", d.Answer.Hold, tt.want)
			}
		})
	}
}

// memStore is a TaskStore over maps.
type memStore struct {
	mu       sync.Mutex
	grants   map[string]latch.Grant
	requests map[string]latch.Request
	reads    *[]string // "grant" on each GetGrant, shared with the tokens' log
}

func (s *memStore) GetGrant(_ context.Context, id string) (latch.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reads != nil {
		*s.reads = append(*s.reads, "read grant")
	}
	g, ok := s.grants[id]
	if !ok {
		return latch.Grant{}, latch.ErrNotFound
	}
	return g, nil
}

func (s *memStore) GetRequest(_ context.Context, id string) (latch.Request, error) {
	r, ok := s.requests[id]
	if !ok {
		return latch.Request{}, latch.ErrNotFound
	}
	return r, nil
}

// loggedTokens records PutHoldToken in the same log as the store's reads.
type loggedTokens struct {
	sfngrants.MemoryTokens
	log *[]string
	mu  *sync.Mutex
}

func (l *loggedTokens) PutHoldToken(ctx context.Context, id, tok, until string, at time.Time) error {
	l.mu.Lock()
	*l.log = append(*l.log, "put token")
	l.mu.Unlock()
	return l.MemoryTokens.PutHoldToken(ctx, id, tok, until, at)
}

// sentReports records the reports the tasks send; err, when set, refuses them.
type sentReports struct {
	mu   sync.Mutex
	sent []events.Message
	err  error
}

func (r *sentReports) Send(_ context.Context, m events.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.sent = append(r.sent, m)
	return nil
}

// completions records the Hold answers sent.
type completions struct {
	mu   sync.Mutex
	sent map[string][]byte
	err  error
}

func (c *completions) Complete(_ context.Context, token string, out []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent == nil {
		c.sent = map[string][]byte{}
	}
	c.sent[token] = out
	return c.err
}

// panicEscalator panics on every call.
type panicEscalator struct{}

func (panicEscalator) Grant(context.Context, latch.GrantSpec) error  { panic("nil map") }
func (panicEscalator) Revoke(context.Context, latch.GrantSpec) error { panic("nil map") }

func newHandler(g latch.Grant, esc latch.Escalator) (*sfngrants.TaskHandler, *memStore, *completions) {
	store := &memStore{grants: map[string]latch.Grant{g.ID: g},
		requests: map[string]latch.Request{"req_a": {ID: "req_a", Flow: flowName, Fields: latch.Fields{"reason": "incident"}}}}
	c := &completions{}
	h := &sfngrants.TaskHandler{Store: store, Flows: flowSource{testFlow()}, Tokens: &sfngrants.MemoryTokens{}, Completer: c,
		Reports:   &sentReports{},
		Escalator: func(*latch.Flow) (latch.Escalator, error) { return esc, nil },
		Clock:     latch.ClockFunc(func() time.Time { return fixedNow })}
	return h, store, c
}

type flowSource struct{ f *latch.Flow }

func (s flowSource) Get(name string) (*latch.Flow, error) {
	if name != s.f.Name {
		return nil, &latch.Error{Kind: latch.KindNotFound, Code: "flow_not_found", Message: "no flow " + name}
	}
	return s.f, nil
}

func TestHandleEscalate(t *testing.T) {
	g := activeGrant()
	g.Status = latch.GrantEscalating
	g.Leases = []latch.Lease{{RequestID: "req_a", Duration: 3600}}
	esc := &fakeEscalator{}
	h, store, _ := newHandler(g, esc)
	var spec latch.GrantSpec
	h.Identity = func(_ context.Context, _ *latch.Flow, u latch.UserRef) (string, error) { return "iam-" + u.Email, nil }
	rec := &recordingEscalator{fakeEscalator: esc, spec: &spec}
	h.Escalator = func(*latch.Flow) (latch.Escalator, error) { return rec, nil }

	out, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "escalate"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := events.Unmarshal([]byte(out.Report.Body))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != events.TypeEscalated || m.ID != "escalated/grt_9/v4" || out.Report.ID != m.ID || !m.At.Equal(fixedNow) {
		t.Errorf("report %+v", m)
	}
	if spec.User.Identity != "iam-"+ann || spec.Request.ID != "req_a" || !spec.EndsAt.Equal(fixedNow.Add(time.Hour)) ||
		spec.Target.ID != targetID {
		t.Errorf("spec %+v", spec)
	}

	// Not escalating any more: nothing to do, nothing to report.
	g.Status = latch.GrantActive
	store.grants[g.ID] = g
	out, err = h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "escalate"})
	if err != nil || out.Report != nil || esc.count("grant") != 1 {
		t.Errorf("escalate an active grant: %+v, %v; %d grants", out, err, esc.count("grant"))
	}
}

type recordingEscalator struct {
	*fakeEscalator
	spec *latch.GrantSpec
}

func (r *recordingEscalator) Grant(ctx context.Context, g latch.GrantSpec) error {
	*r.spec = g
	return r.fakeEscalator.Grant(ctx, g)
}

func TestHandleErrors(t *testing.T) {
	escalating := activeGrant()
	escalating.Status = latch.GrantEscalating
	deescalating := activeGrant()
	deescalating.Status = latch.GrantDeescalating
	perm := latch.Permanent(&latch.Error{Kind: latch.KindNotFound, Code: "identity_not_found", Message: "No identity."})
	for _, tt := range []struct {
		name     string
		g        latch.Grant
		action   string
		esc      latch.Escalator
		identity error
		errName  string
		code     string
	}{
		{"transient", escalating, "escalate", scripted("grant", errDown), nil, "TaskError", "escalation_failed"},
		{"permanent", escalating, "escalate", scripted("grant", perm), nil, "PermanentError", "identity_not_found"},
		{"identity permanent", escalating, "escalate", scripted("grant"), perm, "PermanentError", "identity_not_found"},
		{"identity transient", escalating, "escalate", scripted("grant"), errDown, "TaskError", "escalation_failed"},
		{"panic", escalating, "escalate", panicEscalator{}, nil, "TaskError", "panic"},
		{"revoke permanent is retried", deescalating, "deescalate", scripted("revoke", perm), nil, "TaskError", "identity_not_found"},
		{"revoke: identity lookup down is retried", deescalating, "deescalate", scripted("revoke"), errDown, "TaskError", "identity_unavailable"},
		{"revoke panic", deescalating, "deescalate", panicEscalator{}, nil, "TaskError", "panic"},
		{"unknown action", escalating, "jump", scripted("grant"), nil, "PermanentError", "invalid_task"},
		{"unknown grant", latch.Grant{ID: "grt_other"}, "escalate", scripted("grant"), nil, "TaskError", "not_found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, store, _ := newHandler(tt.g, tt.esc)
			if tt.g.ID == "grt_other" {
				delete(store.grants, "grt_other")
			}
			if tt.identity != nil {
				h.Identity = func(context.Context, *latch.Flow, latch.UserRef) (string, error) { return "", tt.identity }
			}
			_, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: tt.g.ID, Action: tt.action})
			r := lambdaError(err)
			if r.Error != tt.errName || !strings.HasPrefix(err.Error(), tt.code+": ") {
				t.Errorf("error %s %q, want %s with code %s", r.Error, err, tt.errName, tt.code)
			}
		})
	}
}

// A revoke goes on when no identity is known (the escalator decides), but
// never with a lookup that failed for a passing reason.
func TestRevokeWithoutAnIdentity(t *testing.T) {
	g := activeGrant()
	g.Status = latch.GrantDeescalating
	esc := &fakeEscalator{}
	h, _, _ := newHandler(g, esc)
	h.Identity = func(context.Context, *latch.Flow, latch.UserRef) (string, error) {
		return "", &latch.Error{Kind: latch.KindNotFound, Code: "identity_not_found", Message: "No identity."}
	}
	out, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "deescalate"})
	if err != nil || out.Report == nil || esc.count("revoke") != 1 {
		t.Errorf("revoke with no identity known: %+v %v, %d revokes; want it revoked and reported", out, err, esc.count("revoke"))
	}
	h.Identity = func(context.Context, *latch.Flow, latch.UserRef) (string, error) { return "", errDown }
	if _, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "deescalate"}); err == nil || esc.count("revoke") != 1 {
		t.Errorf("revoke with the lookup down: %v, %d revokes; want an error and no revoke", err, esc.count("revoke"))
	}
}

func scripted(action string, errs ...error) *fakeEscalator {
	f := &fakeEscalator{}
	if len(errs) > 0 {
		f.on(action, errs...)
	}
	return f
}

// TestFailureReports: the escalation_failed and deescalation_failed tasks
// turn the caught error into the report's failure, and the latter records
// RevokeOver before it reports.
func TestFailureReports(t *testing.T) {
	lambdaCause := func(typ, msg string) string {
		b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
		return string(b)
	}
	for _, tt := range []struct {
		name   string
		status latch.GrantStatus
		action string
		err    *sfngrants.StatesError
		typ    events.Type
		code   string
		msg    string
	}{
		{"ours", latch.GrantEscalating, "escalation_failed", &sfngrants.StatesError{Error: "PermanentError",
			Cause: lambdaCause("PermanentError", "no_such_group: The group does not exist.")}, events.TypeEscalationFailed,
			"no_such_group", "The group does not exist."},
		{"lambda timeout", latch.GrantEscalating, "escalation_failed", &sfngrants.StatesError{Error: "Sandbox.Timedout",
			Cause: lambdaCause("Sandbox.Timedout", "Task timed out after 30.00 seconds")}, events.TypeEscalationFailed,
			"escalation_failed", "Sandbox.Timedout: Task timed out after 30.00 seconds"},
		{"plain cause", latch.GrantDeescalating, "deescalation_failed", &sfngrants.StatesError{Error: "Lambda.ServiceException",
			Cause: "Rate exceeded"}, events.TypeDeescalationFailed, "deescalation_failed", "Lambda.ServiceException: Rate exceeded"},
		{"no error", latch.GrantDeescalating, "deescalation_failed", nil, events.TypeDeescalationFailed, "deescalation_failed",
			"the task failed for an unknown reason"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := activeGrant()
			g.Status = tt.status
			h, _, _ := newHandler(g, &fakeEscalator{})
			out, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: tt.action, Error: tt.err})
			if err != nil {
				t.Fatal(err)
			}
			m, err := events.Unmarshal([]byte(out.Report.Body))
			if err != nil {
				t.Fatal(err)
			}
			if m.Type != tt.typ || m.ID != string(tt.typ)+"/grt_9/v4" || m.Failure == nil || m.Failure.Code != tt.code ||
				m.Failure.Message != tt.msg {
				t.Errorf("report %+v failure %+v", m, m.Failure)
			}
			// Only a refusal (PermanentError) says the target holds nothing.
			if want := tt.typ == events.TypeEscalationFailed && tt.err.Error != sfngrants.ErrorPermanent; m.Failure.MaybeHeld != want {
				t.Errorf("maybe_held %v, want %v", m.Failure.MaybeHeld, want)
			}
			tok, _, _ := h.Tokens.HoldToken(context.Background(), g.ID)
			if (tok == sfngrants.RevokeOver) != (tt.action == "deescalation_failed") {
				t.Errorf("hold token %q after %s", tok, tt.action)
			}
			// A grant no longer in that state has nothing to report.
			g.Status = latch.GrantEnded
			h2, _, _ := newHandler(g, &fakeEscalator{})
			if out, err := h2.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: tt.action, Error: tt.err}); err != nil || out.Report != nil {
				t.Errorf("on an ended grant: %+v, %v", out, err)
			}
		})
	}
}

// TestHoldWritesThenReads: the Hold task records its token before it reads
// the grant — the order the race-freedom argument rests on.
func TestHoldWritesThenReads(t *testing.T) {
	g := activeGrant(fixedNow.Add(time.Hour))
	g.Status = latch.GrantDeescalating
	h, store, c := newHandler(g, &fakeEscalator{})
	var log []string
	var mu sync.Mutex
	store.reads = &log
	store.mu = sync.Mutex{}
	tokens := &loggedTokens{log: &log, mu: &mu}
	h.Tokens = tokens
	in := sfngrants.TaskInput{GrantID: g.ID, Action: "hold", TaskToken: "tok-1", Hold: &sfngrants.Hold{Seconds: 5}}
	if _, err := h.Handle(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if strings.Join(log, ",") != "put token,read grant" {
		t.Errorf("order %v, want the token put before the grant is read", log)
	}
	if tok, _, _ := tokens.HoldToken(context.Background(), g.ID); tok != "tok-1" {
		t.Errorf("token %q", tok)
	}
	if string(c.sent["tok-1"]) != `{"action":"deescalate"}` {
		t.Errorf("answer %s", c.sent["tok-1"])
	}

	// A token already answered (the runner was first) is not an error.
	c.err = sfngrants.ErrTokenGone
	if _, err := h.Handle(context.Background(), in); err != nil {
		t.Errorf("answering a gone token: %v", err)
	}
	c.err = errors.New("throttled")
	if _, err := h.Handle(context.Background(), in); err == nil {
		t.Error("a failed answer is not reported")
	}

	// Waiting: nothing is sent.
	g.Status = latch.GrantActive
	store.grants[g.ID] = g
	c.sent, c.err = nil, nil
	until := fixedNow.Add(time.Hour).Format(time.RFC3339Nano)
	if _, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "hold", TaskToken: "tok-2",
		Hold: &sfngrants.Hold{Until: until, Seconds: 3600}}); err != nil || len(c.sent) != 0 {
		t.Errorf("a Hold that waits answered %v (%v)", c.sent, err)
	}
	if _, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "hold"}); err == nil {
		t.Error("a Hold without a token was accepted")
	}
}

// A Hold invocation that outlived its Hold, writing its token late, does
// not overwrite the token of the Hold after it.
func TestLateHoldTokenWriteLoses(t *testing.T) {
	g := activeGrant(fixedNow.Add(time.Hour))
	h, _, _ := newHandler(g, &fakeEscalator{})
	tokens := &sfngrants.MemoryTokens{}
	h.Tokens = tokens
	hold := &sfngrants.Hold{Until: fixedNow.Add(time.Hour).Format(time.RFC3339Nano), Seconds: 3600}
	now := fixedNow
	h.Clock = latch.ClockFunc(func() time.Time { return now })
	if _, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "hold", TaskToken: "new", Hold: hold}); err != nil {
		t.Fatal(err)
	}
	now = fixedNow.Add(-time.Second) // the older invocation, started before, writes now
	if _, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "hold", TaskToken: "old", Hold: hold}); err != nil {
		t.Fatal(err)
	}
	if tok, _, _ := tokens.HoldToken(context.Background(), g.ID); tok != "new" {
		t.Errorf("token %q, want the later Hold's", tok)
	}
}

// A revoke never depends on the flow file: a grant whose flow (or strategy)
// is gone is revoked with what it recorded, from the identity it was granted
// to, and the escalator is built from a flow named after the grant.
func TestRevokeOfAGrantWhoseFlowIsGone(t *testing.T) {
	g := activeGrant()
	g.Flow = "removed-flow"
	g.Status = latch.GrantDeescalating
	g.Identity = "AIDA-ann"
	g.Revoke = &latch.RevokeInfo{Strategy: "webhook", Config: map[string]any{"url": "https://hooks.example.com/latch"},
		TargetID: targetID, TargetSettings: map[string]any{"group": "prod-admins"}, IdentityService: "webhook"}
	esc := &fakeEscalator{}
	h, _, _ := newHandler(g, esc)
	var built []*latch.Flow
	h.Escalator = func(f *latch.Flow) (latch.Escalator, error) {
		built = append(built, f)
		return esc, nil
	}
	h.Identity = func(context.Context, *latch.Flow, latch.UserRef) (string, error) {
		t.Error("the identity was looked up although the grant recorded it")
		return "", errDown
	}
	out, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "deescalate"})
	if err != nil || out.Report == nil {
		t.Fatalf("revoke: %+v, %v", out, err)
	}
	if len(built) != 1 || !strings.HasPrefix(built[0].Name, "removed-flow@") || strings.Contains(built[0].Name, g.ID) ||
		built[0].Strategy.Config["url"] != "https://hooks.example.com/latch" {
		t.Errorf("escalator built from %+v", built)
	}
	specs := esc.specs("revoke")
	if len(specs) != 1 || specs[0].User.Identity != "AIDA-ann" || specs[0].Target.Settings["group"] != "prod-admins" {
		t.Errorf("revokes %+v", specs)
	}

	// A grant that recorded nothing and whose flow is gone cannot be revoked
	// by flow: the task fails (retried, and loud), it never reports done.
	g.Revoke = nil
	h, _, _ = newHandler(g, esc)
	if _, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "deescalate"}); err == nil ||
		lambdaError(err).Error != "TaskError" {
		t.Errorf("revoke with nothing to revoke with: %v, want a TaskError", err)
	}
}

// A flow whose target now points elsewhere (or is gone) does not redirect a
// grant: the escalate and the revoke tasks both act on the target settings
// the grant recorded when it was approved.
func TestTasksActOnTheRecordedTarget(t *testing.T) {
	for _, action := range []string{"escalate", "deescalate"} {
		t.Run(action, func(t *testing.T) {
			g := activeGrant()
			g.Status = latch.GrantDeescalating
			if action == "escalate" {
				g.Status = latch.GrantEscalating
			}
			g.Identity = "AIDA-ann"
			f := testFlow()
			f.Strategy.Targets = []latch.Target{{ID: targetID, Settings: map[string]any{"group": "other-group"}}}
			g.Revoke = &latch.RevokeInfo{Strategy: f.Strategy.Type, Config: f.Strategy.Config, TargetID: targetID,
				TargetSettings: map[string]any{"group": "prod-admins"}}
			esc := &fakeEscalator{}
			h, _, _ := newHandler(g, esc)
			h.Flows = flowSource{f}
			if _, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: action}); err != nil {
				t.Fatal(err)
			}
			kind := map[string]string{"escalate": "grant", "deescalate": "revoke"}[action]
			if specs := esc.specs(kind); len(specs) != 1 || specs[0].Target.Settings["group"] != "prod-admins" {
				t.Errorf("%s calls %+v, want one on the recorded group", kind, specs)
			}
		})
	}
}

// checker is an escalator that can check; held is its answer.
type checker struct {
	*fakeEscalator
	held bool
}

func (c checker) Check(context.Context, latch.GrantSpec) (bool, error) { return c.held, nil }

// Where the strategy can check, the revoke task reports deescalated only
// when a check after the revoke says the access is gone; otherwise it fails
// (and the state machine retries it).
func TestRevokeTaskIsConfirmedByACheck(t *testing.T) {
	g := activeGrant()
	g.Status = latch.GrantDeescalating
	for _, held := range []bool{true, false} {
		h, _, _ := newHandler(g, checker{fakeEscalator: &fakeEscalator{}, held: held})
		out, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "deescalate"})
		if held && (err == nil || lambdaError(err).Error != "TaskError" || out.Report != nil) {
			t.Errorf("access still held after the revoke: %+v, %v; want a TaskError and no report", out, err)
		}
		if !held && (err != nil || out.Report == nil) {
			t.Errorf("access gone after the revoke: %+v, %v; want deescalated", out, err)
		}
		if !held && out.Report != nil && !strings.Contains(out.Report.Body, `"verified":true`) {
			t.Errorf("deescalated report %s does not say the revoke was verified", out.Report.Body)
		}
	}
}

// outputEscalator is the fake escalator handing back what the target said.
type outputEscalator struct{ *fakeEscalator }

func (e outputEscalator) GrantWithOutput(ctx context.Context, g latch.GrantSpec) (map[string]any, error) {
	return map[string]any{"mysql_user": "latch_ann"}, e.Grant(ctx, g)
}

// An escalator's output (the aws_lambda strategy's body) travels in the
// escalated report, which the engine keeps in the audit event.
func TestHandleEscalateReportsTheEscalatorsOutput(t *testing.T) {
	g := activeGrant()
	g.Status = latch.GrantEscalating
	g.Leases = []latch.Lease{{RequestID: "req_a", Duration: 3600}}
	h, _, _ := newHandler(g, outputEscalator{&fakeEscalator{}})
	out, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "escalate"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := events.Unmarshal([]byte(out.Report.Body))
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := m.Command()
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Output["mysql_user"] != "latch_ann" {
		t.Errorf("escalated report %s lacks the output", out.Report.Body)
	}
}

// Each task sends its own report to the events queue; one that cannot be
// sent is a ReportError (which the escalate states never count as a failed
// escalation), and the work is done again when the task is retried.
func TestTasksSendTheirReports(t *testing.T) {
	g := activeGrant()
	g.Status = latch.GrantEscalating
	g.Leases = []latch.Lease{{RequestID: "req_a", Duration: 3600, EndsAt: fixedNow.Add(time.Hour)}}
	esc := &fakeEscalator{}
	h, _, _ := newHandler(g, esc)
	reports := h.Reports.(*sentReports)
	out, err := h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "escalate"})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports.sent) != 1 || reports.sent[0].Type != events.TypeEscalated || reports.sent[0].ID != out.Report.ID {
		t.Errorf("sent %+v, want the escalated report", reports.sent)
	}
	// The escalate task's answer is the Hold after it: until the lease end.
	if want := (sfngrants.Hold{Until: fixedNow.Add(time.Hour).Format(time.RFC3339Nano), Seconds: 3600}); out.Hold == nil || *out.Hold != want {
		t.Errorf("hold %+v, want %+v", out.Hold, want)
	}

	reports.err = errors.New("sqs: 503")
	_, err = h.Handle(context.Background(), sfngrants.TaskInput{GrantID: g.ID, Action: "escalate"})
	if r := lambdaError(err); r.Error != sfngrants.ErrorReport || !strings.Contains(err.Error(), "sqs: 503") {
		t.Errorf("escalate with the queue down: %v (%s), want a ReportError saying why", err, r.Error)
	}
	if esc.count("grant") != 2 {
		t.Errorf("granted %d times, want again on the retry", esc.count("grant"))
	}
}

// A revoke that fails records its error (bounded, on one line) beside the
// hold token, where the reconciler finds it for revoke_overdue; a token
// written later keeps it.
func TestRevokeErrorIsRecorded(t *testing.T) {
	g := activeGrant()
	g.Status = latch.GrantDeescalating
	long := errors.New("target API: 503 Service Unavailable\n<html>" + strings.Repeat("é", 400) + "</html>")
	h, _, _ := newHandler(g, scripted("revoke", errDown, long))
	ctx := context.Background()
	if _, err := h.Tokens.RevokeError(ctx, g.ID); !errors.Is(err, latch.ErrNotFound) {
		t.Fatalf("revoke error before any revoke: %v", err)
	}
	if _, err := h.Handle(ctx, sfngrants.TaskInput{GrantID: g.ID, Action: "deescalate"}); err == nil {
		t.Fatal("the revoke failed, the task did not")
	}
	if got, err := h.Tokens.RevokeError(ctx, g.ID); err != nil || got != "deescalation_failed: "+errDown.Error() {
		t.Errorf("revoke error %q, %v", got, err)
	}
	if err := h.Tokens.PutHoldToken(ctx, g.ID, "tok-later", "", fixedNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(ctx, sfngrants.TaskInput{GrantID: g.ID, Action: "deescalate"}); err == nil {
		t.Fatal("the revoke failed, the task did not")
	}
	got, err := h.Tokens.RevokeError(ctx, g.ID)
	if err != nil || len(got) > sfngrants.MaxRevokeError || !strings.HasPrefix(got, "deescalation_failed: target API: 503 Service Unavailable <html>é") ||
		!strings.HasSuffix(got, "…") || strings.ContainsAny(got, "\n\r") || !utf8.ValidString(got) {
		t.Errorf("revoke error %q (%d bytes), %v; want one line of at most %d bytes, cut", got, len(got), err, sfngrants.MaxRevokeError)
	}
	if tok, _, _ := h.Tokens.HoldToken(ctx, g.ID); tok != "tok-later" {
		t.Errorf("the token beside the revoke error is %q", tok)
	}
}
