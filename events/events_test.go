package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

var update = flag.Bool("update", false, "rewrite testdata/<type>.json from the samples")

var at = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

const (
	requestID = "req_01JDQ3KZ2W7Y5T3R1P9N8M6L4K"
	grantID   = "gr_01JDQ3M8Z6N9V4C2B7X5K1H0TE"
)

// samples holds the message each testdata/<type>.json must decode to.
var samples = map[events.Type]events.Message{
	events.TypeApprove: {Version: 1, Type: events.TypeApprove, ID: "cmd_01JDQ4A1B2C3D4E5F6G7H8J9K0", At: at,
		RequestID: requestID, Actor: &events.Actor{Email: "grace@example.com"}, Reason: "Incident 4211 is real", Source: "slack"},
	events.TypeDeny: {Version: 1, Type: events.TypeDeny, ID: "cmd_01JDQ4B1B2C3D4E5F6G7H8J9K0", At: at,
		RequestID: requestID, Actor: &events.Actor{Email: "grace@example.com"}, Reason: "Use the read-only role", Source: "slack"},
	events.TypeCancel: {Version: 1, Type: events.TypeCancel, ID: "cmd_01JDQ4C1B2C3D4E5F6G7H8J9K0", At: at,
		RequestID: requestID, Actor: &events.Actor{Email: "ada@example.com", Bot: "deploy-bot"}, Reason: "Pipeline finished", Source: "api"},
	events.TypeRevoke: {Version: 1, Type: events.TypeRevoke, ID: "cmd_01JDQ4D1B2C3D4E5F6G7H8J9K0", At: at,
		RequestID: requestID, Actor: &events.Actor{Email: "ada@example.com"}, Reason: "Done early", Source: "slack"},
	events.TypeExpire: {Version: 1, Type: events.TypeExpire, ID: "create/" + requestID + "/0", At: at,
		RequestID: requestID},
	events.TypeEscalated: {Version: 1, Type: events.TypeEscalated, ID: grantID + "/escalated", At: at,
		GrantID: grantID},
	events.TypeEscalationFailed: {Version: 1, Type: events.TypeEscalationFailed, ID: grantID + "/escalation_failed", At: at,
		GrantID: grantID, Failure: &events.Failure{Code: "webhook_rejected",
			Message: "The webhook at hooks.example.com refused to escalate grant " + grantID + ": 400 Bad Request: unknown group prod-admins",
			Stage:   "escalate"}},
	events.TypeDue: {Version: 1, Type: events.TypeDue, ID: grantID + "/due/1795609800", At: at,
		GrantID: grantID},
	events.TypeDeescalated: {Version: 1, Type: events.TypeDeescalated, ID: grantID + "/deescalated", At: at,
		GrantID: grantID},
	events.TypeDeescalationFailed: {Version: 1, Type: events.TypeDeescalationFailed, ID: grantID + "/deescalation_failed", At: at,
		GrantID: grantID, Failure: &events.Failure{Code: "webhook_timeout",
			Message: "The webhook at hooks.example.com did not answer within 10s to deescalate grant " + grantID + ".",
			Stage:   "deescalate"}},
	events.TypeOverdue: {Version: 1, Type: events.TypeOverdue, ID: "overdue/" + grantID + "/1764063000000000000",
		At: at.Add(time.Minute), GrantID: grantID, Source: "reconciler", Failure: &events.Failure{Code: "revoke_overdue",
			Message: "The webhook at hooks.example.com answered 503 Service Unavailable"}},
	events.TypeForward: {Version: 1, Type: events.TypeForward, ID: "forward/" + requestID + "/1", At: at.Add(15 * time.Minute),
		RequestID: requestID, Source: "schedule", Step: 1},
	events.TypeAutoApprove: {Version: 1, Type: events.TypeAutoApprove, ID: "auto_approve/" + requestID, At: at,
		RequestID: requestID, Source: "latch"},
	events.TypeRetry: {Version: 1, Type: events.TypeRetry, ID: "cmd_01JDQ4E1B2C3D4E5F6G7H8J9K0", At: at,
		RequestID: requestID, Actor: &events.Actor{Email: "admin@example.com"}, Reason: "The group exists now", Source: "api"},
	events.TypeCreate: {Version: 1, Type: events.TypeCreate, ID: "create/" + requestID, At: at,
		RequestID: requestID, Flow: "prod-db", UserEmail: "ada@example.com",
		CreatedBy: &events.Actor{Email: "ada@example.com", Bot: "deploy-bot"}, Source: "api",
		Fields: map[string]any{"reason": "Deploy 2026.11.25", "duration": "4h", "priority": float64(2),
			"tickets": []any{"OPS-1", "OPS-2"}, "target": "prod-writer"},
		Context:  map[string]any{"ci": map[string]any{"pipeline": "deploy", "run": float64(4211)}},
		StartsAt: ptrTo(at.Add(24 * time.Hour))},
	events.TypeStart: {Version: 1, Type: events.TypeStart, ID: "start/" + requestID, At: at.Add(90 * time.Minute),
		RequestID: requestID, Source: "schedule"},
	events.TypeBreakGlass: {Version: 1, Type: events.TypeBreakGlass, ID: "break_glass/" + requestID, At: at,
		RequestID: requestID, Actor: &events.Actor{Email: "grace@example.com"},
		Reason: "Checkout is down (incident 4211); the on-call approver is unreachable", Source: "api"},
	events.TypeReview: {Version: 1, Type: events.TypeReview, ID: "cmd_01JDQ4A1B2C3D4E5F6G7H8J9K1", At: at.Add(90 * time.Minute),
		RequestID: requestID, Actor: &events.Actor{Email: "ada@example.com"}, Reason: "Matches incident 4211's timeline", Source: "slack"},
	events.TypeReviewOverdue: {Version: 1, Type: events.TypeReviewOverdue, ID: "review_overdue/" + requestID + "/1", At: at.Add(24 * time.Hour),
		RequestID: requestID, Source: "reconciler", Step: 1},
	events.TypeGrantTask: {Version: 1, Type: events.TypeGrantTask, ID: "cmd_01JDQ4A1B2C3D4E5F6G7H8J9K0/2", At: at,
		GrantID: grantID, Action: events.ActionEscalate},
	events.TypeExtend: {Version: 1, Type: events.TypeExtend, ID: "cmd_01JDQ4F2B2C3D4E5F6G7H8J9K1", At: at.Add(45 * time.Minute),
		RequestID: requestID, Actor: &events.Actor{Email: "ada@example.com"}, Reason: "The migration runs late", Source: "api",
		Duration: 3600},
}

// canonical is how testdata files are written: two-space indent, a final newline.
func canonical(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		tb.Fatalf("indent: %v", err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestSamplesRoundTrip(t *testing.T) {
	for _, typ := range events.Types {
		t.Run(string(typ), func(t *testing.T) {
			want, ok := samples[typ]
			if !ok {
				t.Fatalf("no sample for type %s", typ)
			}
			path := filepath.Join("testdata", string(typ)+".json")
			if *update {
				b, err := events.Marshal(want)
				if err != nil {
					t.Fatalf("Marshal: %v", err)
				}
				if err := os.WriteFile(path, canonical(t, b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			m, err := events.Unmarshal(file)
			if err != nil {
				t.Fatalf("Unmarshal %s: %v", path, err)
			}
			if m.Type != typ {
				t.Errorf("%s has type %q", path, m.Type)
			}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("Unmarshal %s (-want +got):\n%s", path, diff)
			}
			b, err := events.Marshal(m)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if diff := cmp.Diff(string(file), string(canonical(t, b))); diff != "" {
				t.Errorf("re-marshalled %s differs (-file +marshalled):\n%s", path, diff)
			}
		})
	}
}

func TestEveryTestdataFileIsAType(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(events.Types) {
		t.Errorf("testdata has %d samples for %d types", len(files), len(events.Types))
	}
	for _, f := range files {
		if typ := events.Type(strings.TrimSuffix(filepath.Base(f), ".json")); !typ.Valid() {
			t.Errorf("%s names no message type", f)
		}
	}
}

func TestEveryCommandKindIsAType(t *testing.T) {
	for _, k := range latch.CommandKinds {
		if typ := events.Type(k); !typ.IsCommand() {
			t.Errorf("command kind %s has no message type", k)
		}
	}
	if n := len(events.Types) - 2; n != len(latch.CommandKinds) {
		t.Errorf("%d command types for %d command kinds", n, len(latch.CommandKinds))
	}
	if events.TypeGrantTask.IsCommand() {
		t.Error("grant_task must not be a command")
	}
	if events.TypeCreate.IsCommand() {
		t.Error("create must not be a command")
	}
}

// commands has one command of every kind, as the engine builds them.
func commands() []latch.Command {
	person := latch.Actor{Email: "grace@example.com"}
	fail := &latch.Failure{Code: "webhook_error", Message: "The webhook failed.", Stage: latch.StageEscalate}
	return []latch.Command{
		{ID: "c1", Kind: latch.CmdApprove, RequestID: requestID, Actor: person, Reason: "ok", Source: latch.SourceSlack, At: at},
		{ID: "c2", Kind: latch.CmdDeny, RequestID: requestID, Actor: person, At: at},
		{ID: "c3", Kind: latch.CmdCancel, RequestID: requestID, Actor: latch.Actor{Email: "ada@example.com", Bot: "ci"}, Source: latch.SourceAPI, At: at},
		{ID: "c4", Kind: latch.CmdRevoke, RequestID: requestID, GrantID: grantID, Actor: person, At: at},
		{ID: "c5", Kind: latch.CmdExpire, RequestID: requestID, At: at},
		{ID: "c6", Kind: latch.CmdEscalated, GrantID: grantID, Identity: "AIDA-grace", At: at,
			Output: map[string]any{"mysql_user": "latch_grace", "grants": []any{"SELECT"}}, HeldBefore: ptrTo(false)},
		{ID: "c7", Kind: latch.CmdEscalationFailed, GrantID: grantID, Failure: &latch.Failure{Code: fail.Code,
			Message: fail.Message, Stage: fail.Stage, MaybeHeld: true}, At: at},
		{ID: "c8", Kind: latch.CmdDue, GrantID: grantID, At: at},
		{ID: "c9", Kind: latch.CmdDeescalated, GrantID: grantID, RequestID: requestID, At: at, HeldBefore: ptrTo(true)},
		{ID: "c10", Kind: latch.CmdDeescalationFailed, GrantID: grantID,
			Failure: &latch.Failure{Code: "webhook_timeout", Message: "No answer."}, At: at},
		{ID: "c11", Kind: latch.CmdRetry, RequestID: requestID, Actor: latch.Actor{Email: "admin@example.com"}, At: at},
		{ID: "c12", Kind: latch.CmdOverdue, GrantID: grantID, Source: latch.SourceLatch,
			Failure: &latch.Failure{Code: "revoke_overdue", Message: "503 from the target"}, At: at},
		{ID: "forward/" + requestID + "/2", Kind: latch.CmdForward, RequestID: requestID, Step: 2, Source: latch.SourceSchedule,
			Failure: &latch.Failure{Code: "undeliverable", Message: "step 1: channel_not_found"}, At: at},
		{ID: "auto_approve/" + requestID, Kind: latch.CmdAutoApprove, RequestID: requestID, Source: latch.SourceLatch, At: at},
		latch.StartCommand(requestID, at),
		{ID: "c13", Kind: latch.CmdExtend, RequestID: requestID, Actor: latch.Actor{Email: "ada@example.com", Bot: "ci"},
			Duration: 3600, Reason: "late", Source: latch.SourceAPI, At: at},
		{ID: "break_glass/" + requestID, Kind: latch.CmdBreakGlass, RequestID: requestID, Actor: person, Reason: "prod is down",
			Source: latch.SourceAPI, At: at},
		{ID: "c13", Kind: latch.CmdReview, RequestID: requestID, Actor: latch.Actor{Email: "admin@example.com"}, Reason: "checked",
			Source: latch.SourceSlack, At: at},
		{ID: "review_overdue/" + requestID + "/2", Kind: latch.CmdReviewOverdue, RequestID: requestID, Step: 2,
			Source: latch.SourceReconciler, At: at},
	}
}

func TestCommandsRoundTrip(t *testing.T) {
	cmds := commands()
	if len(cmds) != len(latch.CommandKinds) {
		t.Fatalf("the test covers %d of %d command kinds", len(cmds), len(latch.CommandKinds))
	}
	for _, want := range cmds {
		t.Run(string(want.Kind), func(t *testing.T) {
			b, err := events.Marshal(events.FromCommand(want))
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			m, err := events.Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal %s: %v", b, err)
			}
			got, err := m.Command()
			if err != nil {
				t.Fatalf("Command: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("command round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalWritesUTC(t *testing.T) {
	cmd := commands()[0]
	cmd.At = time.Date(2026, 11, 25, 10, 30, 0, 5, time.FixedZone("CET", 3600))
	b, err := events.Marshal(events.FromCommand(cmd))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"at":"2026-11-25T09:30:00.000000005Z"`)) {
		t.Errorf("Marshal wrote %s, want at in UTC", b)
	}
}

func TestGrantTask(t *testing.T) {
	m := events.GrantTask("eff-1", grantID, events.ActionDeescalate, at)
	b, err := events.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"type":"grant_task","id":"eff-1","at":"2026-11-25T09:30:00Z","grant_id":"` + grantID + `","action":"deescalate"}`
	if string(b) != want {
		t.Errorf("Marshal = %s\nwant      %s", b, want)
	}
	if _, err := m.Command(); !errors.Is(err, events.ErrType) {
		t.Errorf("Command of a grant task: %v, want ErrType", err)
	}
}

func TestOrderKey(t *testing.T) {
	tests := []struct {
		name string
		give events.Message
		want string
	}{
		{name: "request command", give: samples[events.TypeApprove], want: requestID},
		{name: "request command naming a grant", give: events.FromCommand(commands()[3]), want: requestID},
		{name: "grant report", give: samples[events.TypeEscalated], want: grantID},
		{name: "grant report naming a request", give: events.FromCommand(commands()[8]), want: grantID},
		{name: "grant task", give: samples[events.TypeGrantTask], want: grantID},
		{name: "create", give: samples[events.TypeCreate], want: requestID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.give.OrderKey(); got != tt.want {
				t.Errorf("OrderKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	approve := `"type":"approve","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1","actor":{"email":"grace@example.com"}`
	create := `"type":"create","id":"create/r1","at":"2026-11-25T09:30:00Z","request_id":"r1","flow":"prod","user_email":"ada@example.com","source":"slack"`
	tests := []struct {
		name    string
		give    string
		wantErr error
		wantIn  string
	}{
		{name: "not JSON", give: `approve`, wantErr: events.ErrInvalid, wantIn: "not a JSON object"},
		{name: "an array", give: `[1]`, wantErr: events.ErrInvalid, wantIn: "not a JSON object"},
		{name: "null", give: `null`, wantErr: events.ErrInvalid, wantIn: "null"},
		{name: "empty", give: ``, wantErr: events.ErrInvalid},
		{name: "trailing data", give: `{"v":1,` + approve + `} {}`, wantErr: events.ErrInvalid, wantIn: "data after"},
		{name: "too large", give: `{"v":1,` + approve + `,"reason":"` + strings.Repeat("x", events.MaxSize) + `"}`, wantErr: events.ErrInvalid, wantIn: "more than the"},
		{name: "no version", give: `{` + approve + `}`, wantErr: events.ErrVersion, wantIn: `no version ("v")`},
		{name: "version 2", give: `{"v":2,"type":"approve","whatever":true}`, wantErr: events.ErrVersion, wantIn: "version 2; this build reads version 1 only"},
		{name: "version as text", give: `{"v":"1",` + approve + `}`, wantErr: events.ErrVersion, wantIn: `"v" must be a whole number`},
		{name: "no type", give: `{"v":1,"id":"c1"}`, wantErr: events.ErrType, wantIn: "no type"},
		{name: "unknown type", give: `{"v":1,"type":"approved","id":"c1"}`, wantErr: events.ErrType, wantIn: `unknown message type "approved"`},
		{name: "type not text", give: `{"v":1,"type":7}`, wantErr: events.ErrType, wantIn: `"type" must be text`},
		{name: "unknown field", give: `{"v":1,` + approve + `,"comment":"hi"}`, wantErr: events.ErrInvalid, wantIn: `unknown field "comment"`},
		{name: "field in another case", give: `{"v":1,` + approve + `,"Reason":"hi"}`, wantErr: events.ErrInvalid, wantIn: `unknown field "Reason"`},
		{name: "unknown actor field", give: `{"v":1,"type":"approve","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1","actor":{"email":"a@b.c","name":"A"}}`,
			wantErr: events.ErrInvalid, wantIn: `actor has unknown field "name"`},
		{name: "actor not an object", give: `{"v":1,"type":"approve","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1","actor":"a@b.c"}`,
			wantErr: events.ErrInvalid, wantIn: "actor is not a JSON object"},
		{name: "wrong JSON type", give: `{"v":1,"type":"approve","id":"c1","at":"2026-11-25T09:30:00Z","request_id":5,"actor":{"email":"a@b.c"}}`,
			wantErr: events.ErrInvalid, wantIn: "request_id"},
		{name: "bad time", give: `{"v":1,"type":"expire","id":"c1","at":"yesterday","request_id":"r1"}`, wantErr: events.ErrInvalid},
		{name: "time past year 9999 in UTC", give: `{"v":1,"type":"expire","id":"c1","at":"9999-12-31T23:30:00-01:00","request_id":"r1"}`,
			wantErr: events.ErrInvalid, wantIn: "at is out of range"},
		{name: "missing id and time", give: `{"v":1,"type":"expire","request_id":"r1"}`, wantErr: events.ErrInvalid, wantIn: "id is required; at is required"},
		{name: "extend without duration", give: `{"v":1,"type":"extend","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1","actor":{"email":"a@b.c"}}`,
			wantErr: events.ErrInvalid, wantIn: "duration_seconds is required"},
		{name: "extend by negative time", give: `{"v":1,"type":"extend","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1","actor":{"email":"a@b.c"},"duration_seconds":-60}`,
			wantErr: events.ErrInvalid, wantIn: "duration_seconds must be positive"},
		{name: "duration on approve", give: `{"v":1,` + approve + `,"duration_seconds":60}`, wantErr: events.ErrInvalid, wantIn: "duration_seconds is not allowed"},
		{name: "extend by Latch itself", give: `{"v":1,"type":"extend","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1","duration_seconds":60}`,
			wantErr: events.ErrInvalid, wantIn: "actor is required"},
		{name: "approve without request", give: `{"v":1,"type":"approve","id":"c1","at":"2026-11-25T09:30:00Z","actor":{"email":"a@b.c"}}`,
			wantErr: events.ErrInvalid, wantIn: "request_id is required"},
		{name: "approve without actor", give: `{"v":1,"type":"approve","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1"}`,
			wantErr: events.ErrInvalid, wantIn: "actor is required"},
		{name: "approve by a bot alone", give: `{"v":1,"type":"approve","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1","actor":{"bot":"ci"}}`,
			wantErr: events.ErrInvalid, wantIn: "actor.email is required"},
		{name: "actor with a bad email", give: `{"v":1,"type":"deny","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1","actor":{"email":"grace"}}`,
			wantErr: events.ErrInvalid, wantIn: `actor.email "grace" is not an email address`},
		{name: "empty actor", give: `{"v":1,"type":"due","id":"c1","at":"2026-11-25T09:30:00Z","grant_id":"g1","actor":{}}`,
			wantErr: events.ErrInvalid, wantIn: "actor is empty"},
		{name: "unknown source", give: `{"v":1,` + approve + `,"source":"email"}`, wantErr: events.ErrInvalid, wantIn: `source "email"`},
		{name: "a person's command from a timer", give: `{"v":1,` + approve + `,"source":"schedule"}`, wantErr: events.ErrInvalid, wantIn: `source "schedule" is not`},
		{name: "a report from Slack", give: `{"v":1,"type":"due","id":"due/g1/1","at":"2026-11-25T09:30:00Z","grant_id":"g1","source":"slack"}`,
			wantErr: events.ErrInvalid, wantIn: `source "slack" is not`},
		{name: "output on a revoke report", give: `{"v":1,"type":"deescalated","id":"c1","at":"2026-11-25T09:30:00Z","grant_id":"g1","output":{"x":1}}`,
			wantErr: events.ErrInvalid, wantIn: "output is not allowed"},
		{name: "held_before on a due report", give: `{"v":1,"type":"due","id":"c1","at":"2026-11-25T09:30:00Z","grant_id":"g1","held_before":true}`,
			wantErr: events.ErrInvalid, wantIn: "held_before is not allowed"},
		{name: "failure on approve", give: `{"v":1,` + approve + `,"failure":{"code":"x","message":"y"}}`, wantErr: events.ErrInvalid, wantIn: "failure is not allowed"},
		{name: "action on approve", give: `{"v":1,` + approve + `,"action":"escalate"}`, wantErr: events.ErrInvalid, wantIn: "action is not allowed"},
		{name: "escalated without grant", give: `{"v":1,"type":"escalated","id":"c1","at":"2026-11-25T09:30:00Z","request_id":"r1"}`,
			wantErr: events.ErrInvalid, wantIn: "grant_id is required"},
		{name: "escalation_failed without failure", give: `{"v":1,"type":"escalation_failed","id":"c1","at":"2026-11-25T09:30:00Z","grant_id":"g1"}`,
			wantErr: events.ErrInvalid, wantIn: "failure is required"},
		{name: "failure without code or message", give: `{"v":1,"type":"escalation_failed","id":"c1","at":"2026-11-25T09:30:00Z","grant_id":"g1","failure":{}}`,
			wantErr: events.ErrInvalid, wantIn: "failure.code is required; failure.message is required"},
		{name: "failure at the wrong stage", give: `{"v":1,"type":"deescalation_failed","id":"c1","at":"2026-11-25T09:30:00Z","grant_id":"g1","failure":{"code":"x","message":"y","stage":"escalate"}}`,
			wantErr: events.ErrInvalid, wantIn: `failure.stage "escalate" does not match deescalation_failed`},
		{name: "grant task without action", give: `{"v":1,"type":"grant_task","id":"t1","at":"2026-11-25T09:30:00Z","grant_id":"g1"}`,
			wantErr: events.ErrInvalid, wantIn: "action is required"},
		{name: "grant task with an unknown action", give: `{"v":1,"type":"grant_task","id":"t1","at":"2026-11-25T09:30:00Z","grant_id":"g1","action":"extend"}`,
			wantErr: events.ErrInvalid, wantIn: `action "extend" is not`},
		{name: "create without request, flow, user or source", give: `{"v":1,"type":"create","id":"c1","at":"2026-11-25T09:30:00Z"}`,
			wantErr: events.ErrInvalid, wantIn: "request_id is required; source is required; flow is required; user_email is required"},
		{name: "create with a blank flow", give: `{"v":1,` + create + `,"flow":" "}`, wantErr: events.ErrInvalid, wantIn: "flow is blank"},
		{name: "create for a bad email", give: `{"v":1,` + create + `,"user_email":"ada"}`, wantErr: events.ErrInvalid, wantIn: `user_email "ada" is not an email address`},
		{name: "create with an unknown source", give: `{"v":1,` + create + `,"source":"latch"}`, wantErr: events.ErrInvalid, wantIn: `source "latch" is not`},
		{name: "create with an actor", give: `{"v":1,` + create + `,"actor":{"email":"a@b.c"}}`, wantErr: events.ErrInvalid, wantIn: "actor is not allowed"},
		{name: "create by breaking glass without a reason", give: `{"v":1,` + create + `,"break_glass":true}`, wantErr: events.ErrInvalid, wantIn: "reason is required with break_glass"},
		{name: "break_glass on approve", give: `{"v":1,` + approve + `,"break_glass":true}`, wantErr: events.ErrInvalid, wantIn: "break_glass is not allowed"},
		{name: "break glass without a reason", give: `{"v":1,"type":"break_glass","id":"b1","at":"2026-11-25T09:30:00Z","request_id":"r1","actor":{"email":"a@example.com"}}`,
			wantErr: events.ErrInvalid, wantIn: "reason is required"},
		{name: "review overdue without its alert", give: `{"v":1,"type":"review_overdue","id":"o1","at":"2026-11-25T09:30:00Z","request_id":"r1","source":"reconciler"}`,
			wantErr: events.ErrInvalid, wantIn: "step is required"},
		{name: "create with a reason", give: `{"v":1,` + create + `,"reason":"x"}`, wantErr: events.ErrInvalid, wantIn: "reason is not allowed"},
		{name: "create with a grant", give: `{"v":1,` + create + `,"grant_id":"g1"}`, wantErr: events.ErrInvalid, wantIn: "grant_id is not allowed"},
		{name: "create by nobody", give: `{"v":1,` + create + `,"created_by":{}}`, wantErr: events.ErrInvalid, wantIn: "created_by is empty"},
		{name: "create by a bad email", give: `{"v":1,` + create + `,"created_by":{"email":"bot"}}`, wantErr: events.ErrInvalid, wantIn: `created_by.email "bot" is not an email address`},
		{name: "unknown created_by field", give: `{"v":1,` + create + `,"created_by":{"bot":"ci","token":"t"}}`, wantErr: events.ErrInvalid, wantIn: `created_by has unknown field "token"`},
		{name: "fields not an object", give: `{"v":1,` + create + `,"fields":["reason"]}`, wantErr: events.ErrInvalid, wantIn: "fields"},
		{name: "context not an object", give: `{"v":1,` + create + `,"context":"ci"}`, wantErr: events.ErrInvalid, wantIn: "context"},
		{name: "starts_at not a time", give: `{"v":1,` + create + `,"starts_at":"tomorrow"}`, wantErr: events.ErrInvalid, wantIn: `parsing time "tomorrow"`},
		{name: "starts_at on a start", give: `{"v":1,"type":"start","id":"s1","at":"2026-11-25T09:30:00Z","request_id":"r1","starts_at":"2026-11-25T09:30:00Z"}`,
			wantErr: events.ErrInvalid, wantIn: "starts_at is not allowed"},
		{name: "start without a request", give: `{"v":1,"type":"start","id":"s1","at":"2026-11-25T09:30:00Z"}`,
			wantErr: events.ErrInvalid, wantIn: "request_id is required"},
		{name: "fields on approve", give: `{"v":1,` + approve + `,"fields":{}}`, wantErr: events.ErrInvalid, wantIn: "fields is not allowed"},
		{name: "flow and user on approve", give: `{"v":1,` + approve + `,"flow":"f","user_email":"a@b.c","created_by":{"bot":"x"},"context":{}}`,
			wantErr: events.ErrInvalid, wantIn: "flow is not allowed; user_email is not allowed; created_by is not allowed; context is not allowed"},
		{name: "grant task with a request", give: `{"v":1,"type":"grant_task","id":"t1","at":"2026-11-25T09:30:00Z","grant_id":"g1","action":"escalate","request_id":"r1","reason":"x"}`,
			wantErr: events.ErrInvalid, wantIn: "request_id is not allowed; reason is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.Unmarshal([]byte(tt.give))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Unmarshal: %v, want an error wrapping %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("Unmarshal: %v\nwant it to contain %q", err, tt.wantIn)
			}
		})
	}
}

func TestMarshalRefusesInvalidMessages(t *testing.T) {
	m := samples[events.TypeApprove]
	m.Actor = nil
	if _, err := events.Marshal(m); !errors.Is(err, events.ErrInvalid) {
		t.Errorf("Marshal of an approve without actor: %v, want ErrInvalid", err)
	}
	m = samples[events.TypeApprove]
	m.Version = 0
	if _, err := events.Marshal(m); !errors.Is(err, events.ErrVersion) {
		t.Errorf("Marshal without version: %v, want ErrVersion", err)
	}
	if _, err := (events.Message{Version: 1, Type: "nope"}).Command(); !errors.Is(err, events.ErrType) {
		t.Errorf("Command of an unknown type: %v, want ErrType", err)
	}
}

func TestNullMembersAreAbsent(t *testing.T) {
	m, err := events.Unmarshal([]byte(`{"v":1,"type":"due","id":"c1","at":"2026-11-25T09:30:00Z","grant_id":"g1","actor":null,"failure":null,"reason":null}`))
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if m.Actor != nil || m.Failure != nil || m.Reason != "" {
		t.Errorf("null members decoded as %+v", m)
	}
}

func TestCreateRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		give events.Create
	}{
		{name: "everything", give: events.Create{RequestID: requestID, Flow: "prod-db", UserEmail: "ada@example.com",
			CreatedBy: latch.Actor{Email: "ada@example.com", Bot: "deploy-bot"}, Source: latch.SourceAPI,
			Fields:  map[string]any{"reason": "deploy", "priority": float64(3), "on_call": true, "tickets": []any{"OPS-1"}},
			Context: map[string]any{"ci": map[string]any{"run": float64(7)}}}},
		{name: "by the user themself, from Slack", give: events.Create{RequestID: requestID, Flow: "prod-db",
			UserEmail: "ada@example.com", Source: latch.SourceSlack, Fields: map[string]any{"reason": "incident"}}},
		{name: "by a bot alone", give: events.Create{RequestID: requestID, Flow: "prod-db", UserEmail: "ada@example.com",
			CreatedBy: latch.Actor{Bot: "ci"}, Source: latch.SourceAPI}},
		{name: "by breaking glass", give: events.Create{RequestID: requestID, Flow: "prod-db", UserEmail: "ada@example.com",
			Source: latch.SourceSlack, Fields: map[string]any{"duration": "1h"}, BreakGlass: true, Reason: "checkout is down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := events.FromCreate(tt.give, at)
			if m.ID != "create/"+requestID || m.ID != events.CreateID(requestID) {
				t.Errorf("ID = %q, want create/%s", m.ID, requestID)
			}
			b, err := events.Marshal(m)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			read, err := events.Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal %s: %v", b, err)
			}
			got, err := read.Create()
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if diff := cmp.Diff(tt.give, got); diff != "" {
				t.Errorf("create round trip (-want +got):\n%s", diff)
			}
			if _, err := read.Command(); !errors.Is(err, events.ErrType) {
				t.Errorf("Command of a create: %v, want ErrType", err)
			}
		})
	}
}

func TestCreateOfAnotherType(t *testing.T) {
	if _, err := samples[events.TypeApprove].Create(); !errors.Is(err, events.ErrType) {
		t.Errorf("Create of an approve: %v, want ErrType", err)
	}
	m := samples[events.TypeCreate]
	m.UserEmail = ""
	if _, err := m.Create(); !errors.Is(err, events.ErrInvalid) {
		t.Errorf("Create without user_email: %v, want ErrInvalid", err)
	}
}

// Latch's own commands carry Latch's sources: the expiry a timer (or the
// sweep) sends, the reports of the grant runner, the reconciler's due.
func TestSystemCommandsRoundTripWithTheirSources(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	for _, cmd := range []latch.Command{
		engine.ExpireCommand("r1", at),
		{ID: "due/g1/1", Kind: latch.CmdDue, GrantID: "g1", Source: latch.SourceSchedule, At: at},
		{ID: "due/g1/2", Kind: latch.CmdDue, GrantID: "g1", Source: latch.SourceReconciler, At: at},
		{ID: "escalated/g1/v1", Kind: latch.CmdEscalated, GrantID: "g1", Source: latch.SourceLatch, At: at},
	} {
		b, err := events.Marshal(events.FromCommand(cmd))
		if err != nil {
			t.Errorf("%s: %v", cmd.ID, err)
			continue
		}
		m, err := events.Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", cmd.ID, err)
		}
		if got, err := m.Command(); err != nil || got.Source != cmd.Source {
			t.Errorf("%s: %+v %v, want source %s", cmd.ID, got, err, cmd.Source)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
