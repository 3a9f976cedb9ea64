package flows_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
)

// exampleFlow is the documented example, exactly as written.
const exampleFlow = `name: prod-access
label: Production access
additional_header_text: "Access is logged. See <https://wiki.example.com/prod|the runbook>."
sources: [slack, api]          # unset: both; []: the flow cannot be requested at all
allow_revoke: true
schedule_deescalation: true
allow_guest_interaction: false
fields:
  - {name: reason, type: string, label: Why do you need access?, required: true}
  - {name: duration, type: duration, allowed_values: [30m, 1h, 4h], default: 1h}
approval:
  channel: "#access-requests"                         # where the Slack app posts (used by the Slack issue)
  approvers: [alice@example.com]                      # emails; and/or a CEL rule:
  rule: 'approver.email.endsWith("@example.com")'
  quorum: 1
  allow_self_approval: false
  timeout: 1h                                         # undecided after this: expired
strategy:
  type: webhook
  url: http://127.0.0.1:9999/hook
  secret_env: LATCH_WEBHOOK_SECRET
  targets:
    - {id: prod-db, label: Production database, settings: {role: readonly}}
`

// opts knows the webhook strategy and checks that it has a url.
var opts = flows.Options{Strategies: map[string]func(map[string]any, []latch.Target) error{
	"webhook": func(config map[string]any, _ []latch.Target) error {
		if _, ok := config["url"].(string); !ok {
			return &flows.ConfigError{Reason: "url is required"}
		}
		return nil
	},
	"aws_iam": func(map[string]any, []latch.Target) error { return nil },
}}

// ignoreRule compares flows without their compiled rule, which is checked by
// evaluating it.
var ignoreRule = cmpopts.IgnoreFields(latch.Approval{}, "Rule")

func TestParseExample(t *testing.T) {
	got, err := flows.Parse("flows/prod-access.yaml", []byte(exampleFlow), opts)
	if err != nil {
		t.Fatalf("Parse() error:\n%v", err)
	}
	want := &latch.Flow{
		Name:                  "prod-access",
		Label:                 "Production access",
		AdditionalHeaderText:  "Access is logged. See <https://wiki.example.com/prod|the runbook>.",
		Sources:               []latch.Source{latch.SourceSlack, latch.SourceAPI},
		AllowRevoke:           true,
		ScheduleDeescalation:  true,
		AllowGuestInteraction: false,
		Fields: []latch.Field{
			{Name: "reason", Type: latch.FieldString, Label: "Why do you need access?", Required: true},
			{Name: "duration", Type: latch.FieldDuration, Label: "duration", Default: int64(3600),
				AllowedValues: []any{int64(1800), int64(3600), int64(14400)}},
		},
		Approval: latch.Approval{
			Channel:    "#access-requests",
			Approvers:  []string{"alice@example.com"},
			RuleSource: `approver.email.endsWith("@example.com")`,
			Quorum:     1,
			Timeout:    time.Hour,
		},
		Strategy: &latch.Strategy{
			Type:   "webhook",
			Config: map[string]any{"url": "http://127.0.0.1:9999/hook", "secret_env": "LATCH_WEBHOOK_SECRET"},
			Targets: []latch.Target{
				{ID: "prod-db", Label: "Production database", Settings: map[string]any{"role": "readonly"}},
			},
		},
		Identity: latch.IdentityConfig{LookupByEmail: true},
		File:     "flows/prod-access.yaml",
	}
	if diff := cmp.Diff(want, got, ignoreRule); diff != "" {
		t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
	}
	if got.Approval.Rule == nil {
		t.Fatal("Approval.Rule is nil")
	}
	for email, want := range map[string]bool{"bob@example.com": true, "eve@other.test": false} {
		ok, err := got.Approval.Rule.Eval(latch.RuleVars{Approver: &latch.User{Email: email}})
		if err != nil || ok != want {
			t.Errorf("Rule.Eval(%s) = %v, %v; want %v", email, ok, err, want)
		}
	}
}

func TestLoadRepositoryFlows(t *testing.T) {
	got, err := flows.Load(filepath.Join("..", "..", "flows"), opts)
	if err != nil {
		t.Fatalf("Load() error:\n%v", err)
	}
	var names []string
	for _, f := range got {
		names = append(names, f.Name)
	}
	if diff := cmp.Diff([]string{"deploy-approval", "prod-access"}, names); diff != "" {
		t.Errorf("flow names mismatch (-want +got):\n%s", diff)
	}
	example, err := flows.Parse(filepath.Join("..", "..", "flows", "prod-access.yaml"), []byte(exampleFlow), opts)
	if err != nil {
		t.Fatalf("Parse(example) error:\n%v", err)
	}
	if diff := cmp.Diff(example, got[1], ignoreRule); diff != "" {
		t.Errorf("flows/prod-access.yaml is not the documented example (-want +got):\n%s", diff)
	}
	if got[0].Strategy != nil {
		t.Errorf("deploy-approval has a strategy; want an approval-only flow")
	}
}

func TestParseDefaults(t *testing.T) {
	got, err := flows.Parse("f.yaml", []byte("name: minimal\napproval:\n  approvers: [A@Example.com]\n"), opts)
	if err != nil {
		t.Fatalf("Parse() error:\n%v", err)
	}
	want := &latch.Flow{
		Name:                 "minimal",
		Label:                "minimal",
		AllowRevoke:          flows.DefaultAllowRevoke,
		ScheduleDeescalation: flows.DefaultScheduleDeescalation,
		Approval:             latch.Approval{Approvers: []string{"a@example.com"}, Quorum: flows.DefaultQuorum},
		Identity:             latch.IdentityConfig{LookupByEmail: true},
		File:                 "f.yaml",
	}
	if diff := cmp.Diff(want, got, ignoreRule); diff != "" {
		t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
	}
	if !got.AllowRevoke || !got.ScheduleDeescalation || got.AllowGuestInteraction || got.Approval.AllowSelfApproval {
		t.Errorf("defaults: allow_revoke=%v schedule_deescalation=%v allow_guest_interaction=%v allow_self_approval=%v; want true, true, false, false",
			got.AllowRevoke, got.ScheduleDeescalation, got.AllowGuestInteraction, got.Approval.AllowSelfApproval)
	}
}

func TestParseValues(t *testing.T) {
	const head = "name: f\napproval:\n  approvers: [a@example.com]\n"
	i := func(n int64) *int64 { return &n }
	tests := []struct {
		name string
		give string
		opts *flows.Options // nil: opts
		got  func(*latch.Flow) any
		want any
	}{
		{
			name: "sources unset means both", give: head,
			got: func(f *latch.Flow) any { return f.Sources }, want: []latch.Source(nil),
		},
		{
			name: "empty sources means none", give: head + "sources: []\n",
			got: func(f *latch.Flow) any { return f.Sources }, want: []latch.Source{},
		},
		{
			name: "sources as listed", give: head + "sources: [api]\n",
			got: func(f *latch.Flow) any { return f.Sources }, want: []latch.Source{latch.SourceAPI},
		},
		{
			name: "null value counts as unset", give: head + "sources:\nlabel:\n",
			got: func(f *latch.Flow) any { return []any{f.Sources, f.Label} }, want: []any{[]latch.Source(nil), "f"},
		},
		{
			name: "both lifecycle flags may be false without a strategy",
			give: head + "allow_revoke: false\nschedule_deescalation: false\n",
			got:  func(f *latch.Flow) any { return []bool{f.AllowRevoke, f.ScheduleDeescalation} }, want: []bool{false, false},
		},
		{
			name: "one lifecycle flag is enough",
			give: head + "allow_revoke: false\nstrategy: {type: aws_iam, targets: [{id: t}]}\n",
			got:  func(f *latch.Flow) any { return []bool{f.AllowRevoke, f.ScheduleDeescalation} }, want: []bool{false, true},
		},
		{
			name: "int field with bounds, allowed values and default",
			give: head + "fields:\n  - {name: count, type: int, min: 1, max: 10, allowed_values: [1, 5, 10], default: 5, required: true, label: Count}\n",
			got:  func(f *latch.Flow) any { return f.Fields },
			want: []latch.Field{{Name: "count", Type: latch.FieldInt, Label: "Count", Required: true, Default: int64(5),
				AllowedValues: []any{int64(1), int64(5), int64(10)}, Min: i(1), Max: i(10)}},
		},
		{
			name: "duration bounds in the short form and in seconds",
			give: head + "fields:\n  - {name: duration, type: duration, min: 30m, max: 86400, default: 1d}\n",
			got:  func(f *latch.Flow) any { return f.Fields },
			want: []latch.Field{{Name: "duration", Type: latch.FieldDuration, Label: "duration", Default: int64(86400),
				Min: i(1800), Max: i(86400)}},
		},
		{
			name: "list, bool and slack user fields",
			give: head + "fields:\n  - {name: teams, type: 'list[string]', default: [db, sre]}\n  - {name: ports, type: 'list[int]', default: [5432]}\n" +
				"  - {name: urgent, type: bool, default: false}\n  - {name: buddy, type: slack_user}\n  - {name: buddies, type: 'list[slack_user]'}\n",
			got: func(f *latch.Flow) any { return f.Fields },
			want: []latch.Field{
				{Name: "teams", Type: latch.FieldStrings, Label: "teams", Default: []string{"db", "sre"}},
				{Name: "ports", Type: latch.FieldInts, Label: "ports", Default: []int64{5432}},
				{Name: "urgent", Type: latch.FieldBool, Label: "urgent", Default: false},
				{Name: "buddy", Type: latch.FieldSlackUser, Label: "buddy"},
				{Name: "buddies", Type: latch.FieldSlackUsers, Label: "buddies"},
			},
		},
		{
			name: "target_id field offering some targets",
			give: head + "fields:\n  - {name: target_id, type: string, allowed_values: [b, a]}\n" +
				"strategy:\n  type: aws_iam\n  targets: [{id: a}, {id: b, label: Bee}, {id: c}]\n",
			got: func(f *latch.Flow) any { return []any{f.Fields, f.Strategy} },
			want: []any{
				[]latch.Field{{Name: "target_id", Type: latch.FieldString, Label: "target_id", AllowedValues: []any{"b", "a"}}},
				&latch.Strategy{Type: "aws_iam", Config: map[string]any{},
					Targets: []latch.Target{{ID: "a", Label: "a"}, {ID: "b", Label: "Bee"}, {ID: "c", Label: "c"}}},
			},
		},
		{
			name: "strategy settings as plain Go values",
			give: head + "strategy:\n  type: aws_iam\n  account: 123456789012\n  ratio: 0.5\n  enabled: true\n  tags: [a, 1]\n  nested: {k: v, n: ~}\n" +
				"  targets:\n    - id: admins\n      settings: {group: prod-admins, max: 3, when: 2024-01-01}\n",
			got: func(f *latch.Flow) any { return f.Strategy },
			want: &latch.Strategy{Type: "aws_iam",
				Config: map[string]any{"account": int64(123456789012), "ratio": 0.5, "enabled": true,
					"tags": []any{"a", int64(1)}, "nested": map[string]any{"k": "v", "n": nil}},
				Targets: []latch.Target{{ID: "admins", Label: "admins",
					Settings: map[string]any{"group": "prod-admins", "max": int64(3), "when": "2024-01-01"}}}},
		},
		{
			name: "approvers normalized to lower case",
			give: "name: f\napproval:\n  approvers: [' Alice@Example.COM ', bob@example.com]\n  quorum: 2\n  allow_self_approval: true\n  timeout: 3600\n",
			got:  func(f *latch.Flow) any { return f.Approval },
			want: latch.Approval{Approvers: []string{"alice@example.com", "bob@example.com"}, Quorum: 2,
				AllowSelfApproval: true, Timeout: time.Hour},
		},
		{
			name: "a rule alone may approve with any quorum",
			give: "name: f\napproval:\n  rule: approver.role == \"member\"\n  quorum: 3\n",
			got: func(f *latch.Flow) any {
				return []any{f.Approval.RuleSource, f.Approval.Quorum, f.Approval.Rule != nil}
			},
			want: []any{`approver.role == "member"`, 3, true},
		},
		{
			name: "hooks",
			give: head + "hooks:\n  secret_env: LATCH_HOOK_SECRET\n  on_request: https://h.example.com/r\n  on_approve: http://127.0.0.1:8080/a\n  on_deny: https://h.example.com/d\n" +
				"  after_escalate: https://h.example.com/e\n  after_deescalate: https://h.example.com/x\n  get_identity: https://h.example.com/i\n",
			got: func(f *latch.Flow) any { return f.Hooks },
			want: latch.Hooks{SecretEnv: "LATCH_HOOK_SECRET", OnRequest: "https://h.example.com/r", OnApprove: "http://127.0.0.1:8080/a", OnDeny: "https://h.example.com/d",
				AfterEscalate: "https://h.example.com/e", AfterDeescalate: "https://h.example.com/x", GetIdentity: "https://h.example.com/i"},
		},
		{
			name: "identity",
			give: head + "strategy: {type: webhook, url: 'http://127.0.0.1:1/h', secret_env: S, targets: [{id: t}]}\n" +
				"identity:\n  service: vault\n  rule: 'user.email.split(\"@\")[0]'\n  lookup_by_email: false\n",
			got: func(f *latch.Flow) any {
				id, err := f.Identity.Rule.Eval(&latch.User{Email: "bob@example.com"})
				return []any{f.Identity.Service, f.Identity.RuleSource, f.Identity.LookupByEmail, f.IdentityService(), id, err}
			},
			want: []any{"vault", `user.email.split("@")[0]`, false, "vault", "bob", nil},
		},
		{
			name: "identity service defaults to the strategy type",
			give: head + "strategy: {type: webhook, url: 'http://127.0.0.1:1/h', secret_env: S, targets: [{id: t}]}\n",
			got:  func(f *latch.Flow) any { return []any{f.IdentityService(), f.Identity.LookupByEmail} },
			want: []any{"webhook", true},
		},
		{
			name: "any strategy type when none are registered",
			give: head + "strategy: {type: anything, targets: [{id: t}]}\n",
			opts: &flows.Options{},
			got:  func(f *latch.Flow) any { return f.Strategy.Type }, want: "anything",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			if tt.opts != nil {
				o = *tt.opts
			}
			got, err := flows.Parse("f.yaml", []byte(tt.give), o)
			if err != nil {
				t.Fatalf("Parse() error:\n%v", err)
			}
			if diff := cmp.Diff(tt.want, tt.got(got)); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	// ok is a valid flow for the cases to break.
	const ok = "name: f\napproval:\n  approvers: [a@example.com]\n"
	tests := []struct {
		name    string
		give    string
		wantErr string
	}{
		// visible_to.
		{name: "visible_to not a boolean", give: ok + "visible_to: 'requester.email'\n",
			wantErr: "f.yaml:4: visible_to does not compile: the rule must give true or false (bool), not string"},
		// identity and hooks.
		{name: "identity on an approval-only flow", give: ok + "identity: {service: vault}\n",
			wantErr: "f.yaml:4: identity applies only to flows with a strategy: an approval-only flow grants nothing"},
		{name: "identity service with spaces", give: ok + "strategy: {type: webhook, url: 'http://127.0.0.1:1/h', secret_env: S, targets: [{id: t}]}\nidentity: {service: my vault}\n",
			wantErr: `f.yaml:5: identity.service "my vault" must be 1 to 64 lower-case letters, digits, '_', '-', '.' or ':'`},
		{name: "identity rule not a string", give: ok + "strategy: {type: webhook, url: 'http://127.0.0.1:1/h', secret_env: S, targets: [{id: t}]}\nidentity:\n  rule: 'user.email == \"x\"'\n",
			wantErr: "f.yaml:6: identity.rule does not compile: the rule must give a string, not bool"},
		{name: "hooks without a secret", give: ok + "hooks:\n  on_request: https://h.example.com/r\n",
			wantErr: "f.yaml:4: hooks.secret_env is required: hook calls are signed with the secret in that environment variable"},
		{name: "hooks secret pasted as a value", give: ok + "hooks:\n  secret_env: 's3cr3t value!'\n  on_request: https://h.example.com/r\n",
			wantErr: `f.yaml:5: hooks.secret_env "s3cr3t value!" is not an environment variable name (write the variable's name, not the secret)`},
		// The file as a whole.
		{name: "empty file", give: "", wantErr: "f.yaml:1: the file is empty; a flow file holds one flow"},
		{name: "only comments", give: "# nothing here\n\n", wantErr: "f.yaml:1: the file is empty; a flow file holds one flow"},
		{name: "more than one document", give: ok + "---\nname: g\n", wantErr: "f.yaml:4: a flow file holds one flow, but a second YAML document starts here"},
		{name: "YAML syntax error", give: "name: f\napproval:\n  approvers: [a@example.com\n  quorum: 1\n",
			wantErr: "f.yaml:4: invalid YAML: did not find expected ',' or ']'"},
		{name: "tab indentation", give: "name: f\napproval:\n\tquorum: 1\n", wantErr: "f.yaml:3: invalid YAML: found character that cannot start any token"},
		{name: "not a mapping", give: "- name: f\n", wantErr: "f.yaml:1: a flow file must be a mapping (key: value), not a list"},
		{name: "alias", give: "name: &n f\nlabel: *n\napproval:\n  approvers: [a@example.com]\n",
			wantErr: "f.yaml:2: aliases (*n) are not supported in flow files; write the value out"},

		// Keys.
		{name: "unknown key close to a known one", give: ok + "lable: F\n", wantErr: `f.yaml:4: unknown key "lable"; did you mean "label"?`},
		{name: "unknown key", give: ok + "colour: red\n",
			wantErr: `f.yaml:4: unknown key "colour"; the keys are name, label, additional_header_text, sources, allow_revoke, schedule_deescalation, allow_guest_interaction, include_decision_message, visible_to, fields, approval, strategy, identity, hooks, oncall, auto_approve, allow_scheduled_start, extension, break_glass`},
		{name: "unknown nested key", give: ok + "  qorum: 1\n", wantErr: `f.yaml:4: unknown key "qorum" in approval; did you mean "quorum"?`},
		{name: "unknown field key", give: ok + "fields:\n  - {name: reason, type: string, requried: true}\n",
			wantErr: `f.yaml:5: unknown key "requried" in field "reason"; did you mean "required"?`},
		{name: "unknown target key", give: ok + "strategy:\n  type: aws_iam\n  targets:\n    - {id: t, settngs: {}}\n",
			wantErr: `f.yaml:7: unknown key "settngs" in strategy.targets; did you mean "settings"?`},
		{name: "unknown hook", give: ok + "hooks:\n  on_aprove: https://h.example.com\n", wantErr: `f.yaml:5: unknown key "on_aprove" in hooks; did you mean "on_approve"?`},
		{name: "duplicate key", give: ok + "name: g\n", wantErr: `f.yaml:4: duplicate key "name" (first at line 1)`},
		{name: "wrong kind of value", give: ok + "label: [a]\n", wantErr: "f.yaml:4: label must be text, not a list"},
		{name: "flag not a boolean", give: ok + "allow_revoke: yes\n", wantErr: `f.yaml:4: allow_revoke must be true or false, not "yes"`},

		// Name and sources.
		{name: "missing name", give: "approval:\n  approvers: [a@example.com]\n", wantErr: "f.yaml:1: name is required"},
		{name: "invalid name", give: "name: Prod Access\napproval:\n  approvers: [a@example.com]\n",
			wantErr: `f.yaml:1: name "Prod Access" is not valid: use 1 to 64 lowercase letters, digits, "-" and "_"`},
		{name: "name too long", give: "name: " + strings.Repeat("a", 65) + "\napproval:\n  approvers: [a@example.com]\n",
			wantErr: `f.yaml:1: name "` + strings.Repeat("a", 65) + `" is not valid: use 1 to 64 lowercase letters, digits, "-" and "_"`},
		{name: "unknown source", give: ok + "sources: [slack, email]\n", wantErr: `f.yaml:4: sources: "email" is not a source; use slack or api`},
		{name: "source listed twice", give: ok + "sources:\n  - api\n  - api\n", wantErr: `f.yaml:6: sources: "api" is listed twice`},
		{name: "sources not a list", give: ok + "sources: slack\n", wantErr: `f.yaml:4: sources must be a list such as [slack, api], not "slack"`},

		// Revocation.
		{name: "access that would never end", give: ok + "allow_revoke: false\nschedule_deescalation: false\nstrategy: {type: aws_iam, targets: [{id: t}]}\n",
			wantErr: "f.yaml:4: allow_revoke and schedule_deescalation are both false, so access granted by this flow would never be taken away; set at least one to true"},
		{name: "scheduled start on an approval-only flow", give: ok + "allow_scheduled_start: true\n",
			wantErr: "f.yaml:4: allow_scheduled_start applies only to flows with a strategy: an approval-only flow grants nothing to start later"},
		{name: "scheduled start not a boolean", give: ok + "allow_scheduled_start: later\n",
			wantErr: `f.yaml:4: allow_scheduled_start must be true or false, not "later"`},

		// Fields.
		{name: "field without a name", give: ok + "fields:\n  - {type: string}\n", wantErr: "f.yaml:5: field 1 needs a name"},
		{name: "invalid field name", give: ok + "fields:\n  - {name: Ticket-ID, type: string}\n",
			wantErr: `f.yaml:5: field name "Ticket-ID" is not valid: use a lowercase letter followed by up to 63 lowercase letters, digits and "_"`},
		{name: "duplicate field names", give: ok + "fields:\n  - {name: reason, type: string}\n  - {name: reason, type: string}\n",
			wantErr: `f.yaml:6: field "reason" is declared twice (first at line 5)`},
		{name: "field without a type", give: ok + "fields:\n  - name: reason\n",
			wantErr: `f.yaml:5: field "reason" needs a type: one of string, int, bool, duration, list[string], list[int], slack_user, list[slack_user]`},
		{name: "unknown field type close to a known one", give: ok + "fields:\n  - {name: teams, type: list<string>}\n",
			wantErr: `f.yaml:5: field "teams": type "list<string>" is not a field type; did you mean "list[string]"? The types are string, int, bool, duration, list[string], list[int], slack_user, list[slack_user]`},
		{name: "unknown field type", give: ok + "fields:\n  - {name: reason, type: text}\n",
			wantErr: `f.yaml:5: field "reason": type "text" is not a field type; use one of string, int, bool, duration, list[string], list[int], slack_user, list[slack_user]`},
		{name: "duration field of another type", give: ok + "fields:\n  - {name: duration, type: int}\n",
			wantErr: `f.yaml:5: field "duration" must have type duration: it sets how long access lasts`},
		{name: "default not allowed", give: ok + "fields:\n  - name: duration\n    type: duration\n    allowed_values: [30m, 1h]\n    default: 2h\n",
			wantErr: `f.yaml:8: field "duration": default: 2h is not one of the allowed values (30m, 1h)`},
		{name: "default of the wrong type", give: ok + "fields:\n  - {name: count, type: int, default: many}\n",
			wantErr: `f.yaml:5: field "count": default: want a whole number, got "many"`},
		{name: "default out of bounds", give: ok + "fields:\n  - {name: count, type: int, max: 3, default: 4}\n",
			wantErr: `f.yaml:5: field "count": default: 4 is more than the maximum 3`},
		{name: "allowed value of the wrong type", give: ok + "fields:\n  - name: duration\n    type: duration\n    allowed_values:\n      - 1h\n      - soon\n",
			wantErr: `f.yaml:9: field "duration": allowed_values: "soon" is not a duration (write 30m, 4h or 1d)`},
		{name: "allowed value listed twice", give: ok + "fields:\n  - {name: duration, type: duration, allowed_values: [1h, 60m]}\n",
			wantErr: `f.yaml:5: field "duration": allowed_values: 1h is listed twice`},
		{name: "empty allowed values", give: ok + "fields:\n  - {name: reason, type: string, allowed_values: []}\n",
			wantErr: `f.yaml:5: field "reason": allowed_values is empty; remove it to allow any value`},
		{name: "allowed values on a list field", give: ok + "fields:\n  - {name: teams, type: 'list[string]', allowed_values: [a, b]}\n",
			wantErr: `f.yaml:5: field "teams": allowed_values is not supported for list[string] fields`},
		{name: "bounds on a string field", give: ok + "fields:\n  - name: reason\n    type: string\n    min: 1\n",
			wantErr: `f.yaml:7: field "reason": min applies only to int and duration fields`},
		{name: "min above max", give: ok + "fields:\n  - {name: duration, type: duration, min: 4h, max: 1h}\n",
			wantErr: `f.yaml:5: field "duration": min 4h is more than max 1h`},
		{name: "invalid bound", give: ok + "fields:\n  - {name: duration, type: duration, max: -1h}\n",
			wantErr: `f.yaml:5: field "duration": max: "-1h" is not a duration (write 30m, 4h or 1d)`},
		{name: "target_id without a strategy", give: ok + "fields:\n  - {name: target_id, type: string, allowed_values: [a]}\n",
			wantErr: `f.yaml:5: field "target_id" needs a strategy with targets to choose from`},
		{name: "target_id of another type", give: ok + "fields:\n  - {name: target_id, type: int}\nstrategy: {type: aws_iam, targets: [{id: a}]}\n",
			wantErr: `f.yaml:5: field "target_id" must have type string: it chooses one of the strategy's targets`},
		{name: "target_id without allowed values", give: ok + "fields:\n  - {name: target_id, type: string}\nstrategy: {type: aws_iam, targets: [{id: a}]}\n",
			wantErr: `f.yaml:5: field "target_id" must list the target ids it offers in allowed_values`},
		{name: "target_id offering an unknown target", give: ok + "fields:\n  - name: target_id\n    type: string\n    allowed_values:\n      - a\n      - z\nstrategy: {type: aws_iam, targets: [{id: a}, {id: b}]}\n",
			wantErr: `f.yaml:9: field "target_id": "z" is not a target id; the targets are a, b`},

		// Approval.
		{name: "missing approval", give: "name: f\n", wantErr: "f.yaml:1: approval is required: name approvers, a rule or both"},
		{name: "approval with nobody to approve", give: "name: f\napproval:\n  channel: '#c'\n",
			wantErr: "f.yaml:2: approval needs approvers, a rule or both; admins can always approve, but a flow must also say who else may"},
		{name: "empty approvers and no rule", give: "name: f\napproval: {approvers: []}\n",
			wantErr: "f.yaml:2: approval needs approvers, a rule or both; admins can always approve, but a flow must also say who else may"},
		{name: "approver not an email", give: "name: f\napproval:\n  approvers: [alice]\n", wantErr: `f.yaml:3: approval.approvers: "alice" is not an email address`},
		{name: "approver listed twice", give: "name: f\napproval:\n  approvers: [a@example.com, A@example.com]\n", wantErr: `f.yaml:3: approval.approvers: "a@example.com" is listed twice`},
		{name: "quorum below one", give: ok + "  quorum: 0\n", wantErr: "f.yaml:4: approval.quorum must be at least 1"},
		{name: "quorum above the listed approvers", give: ok + "  quorum: 2\n", wantErr: "f.yaml:4: approval.quorum is 2, but only 1 approver is listed and there is no rule"},
		{name: "quorum above several listed approvers", give: "name: f\napproval:\n  approvers: [a@example.com, b@example.com]\n  quorum: 3\n",
			wantErr: "f.yaml:4: approval.quorum is 3, but only 2 approvers are listed and there is no rule"},
		{name: "quorum not a number", give: ok + "  quorum: two\n", wantErr: `f.yaml:4: approval.quorum must be a whole number, not "two"`},
		{name: "rule with a syntax error", give: ok + "  rule: approver.email.endsWith(\"@example.com\"\n",
			wantErr: "f.yaml:4: approval.rule does not compile: Syntax error: missing ')' at the end of the rule"},
		{name: "rule with an unknown variable", give: ok + "  rule: 'approvr.email == \"a@example.com\"'\n",
			wantErr: "f.yaml:4: approval.rule does not compile: undeclared reference to 'approvr'"},
		{name: "rule with an unknown key", give: ok + "  rule: approver.mail == \"a@example.com\"\n",
			wantErr: `f.yaml:4: approval.rule does not compile: approver has no key "mail"; it has email, role, id, name, kind, on_call`},
		{name: "rule that is not a boolean", give: ok + "  rule: approver.email\n",
			wantErr: "f.yaml:4: approval.rule does not compile: the rule must give true or false (bool), not string"},
		{name: "multi-line rule error on its own line", give: ok + "  rule: |\n    approver.email.endsWith(\"@example.com\") &&\n      requestr.role == \"member\"\n",
			wantErr: "f.yaml:6: approval.rule does not compile: undeclared reference to 'requestr'"},
		{name: "empty rule", give: ok + "  rule: ''\n", wantErr: "f.yaml:4: approval.rule does not compile: the rule is empty"},
		{name: "zero timeout", give: ok + "  timeout: 0\n", wantErr: "f.yaml:4: approval.timeout must be positive; remove it for requests that never expire"},
		{name: "negative timeout", give: ok + "  timeout: -1h\n", wantErr: "f.yaml:4: approval.timeout must be positive; remove it for requests that never expire"},
		{name: "timeout not a duration", give: ok + "  timeout: soon\n", wantErr: `f.yaml:4: approval.timeout: "soon" is not a duration (write 30m, 4h or 1d)`},

		// On call.
		{name: "oncall with an unknown provider", give: ok + "oncall: {provider: opsgenie, schedule_ids: [P1], token_env: T}\n",
			wantErr: `f.yaml:4: oncall.provider "opsgenie" is not known; the providers are pagerduty`},
		{name: "oncall without schedules", give: ok + "oncall:\n  provider: pagerduty\n  token_env: PAGERDUTY_TOKEN\n",
			wantErr: "f.yaml:4: oncall.schedule_ids is required: the schedules whose on-call people count"},
		{name: "oncall schedule id not an id", give: ok + "oncall:\n  provider: pagerduty\n  schedule_ids: [my schedule]\n  token_env: PAGERDUTY_TOKEN\n",
			wantErr: `f.yaml:6: oncall.schedule_ids: "my schedule" is not a PagerDuty schedule id (such as PABC123)`},
		{name: "oncall token pasted as a value", give: ok + "oncall:\n  provider: pagerduty\n  schedule_ids: [PSCHED1]\n  token_env: 'u+abc/def'\n",
			wantErr: `f.yaml:7: oncall.token_env "u+abc/def" is not an environment variable name (write the variable's name, not the token)`},
		{name: "oncall with an unknown key", give: ok + "oncall: {provider: pagerduty, schedule_ids: [P1], token_env: T, schedules: [P2]}\n",
			wantErr: `f.yaml:4: unknown key "schedules" in oncall; the keys are provider, schedule_ids, token_env`},
		{name: "on_call without an oncall source", give: ok + "auto_approve: 'requester.on_call'\n",
			wantErr: "f.yaml:4: the rule uses on_call, but the flow names no oncall source, so it would always be false"},
		{name: "auto_approve naming the approver", give: ok + "auto_approve: 'approver.role == \"admin\"'\n",
			wantErr: "f.yaml:4: auto_approve sees no approver: it judges a new request before anyone decides; use requester, request and flow"},
		{name: "auto_approve not a boolean", give: ok + "auto_approve: 'requester.email'\n",
			wantErr: "f.yaml:4: auto_approve does not compile: the rule must give true or false (bool), not string"},

		// Forwarding.
		{name: "forward not a list", give: ok + "  forward: {after: 15m}\n",
			wantErr: `f.yaml:4: approval.forward must be a list of steps such as {after: 15m, channel: "#sre-leads"}, not a mapping`},
		{name: "forward step with a bad duration", give: ok + "  forward:\n    - {after: soon, channel: '#sre'}\n",
			wantErr: `f.yaml:5: approval.forward step 1: after: "soon" is not a duration (write 30m, 4h or 1d)`},
		{name: "forward step without after", give: ok + "  forward:\n    - {channel: '#sre'}\n",
			wantErr: "f.yaml:5: approval.forward step 1 needs after: how long after the request it is forwarded (15m, 1h)"},
		{name: "forward step at the timeout", give: ok + "  timeout: 1h\n  forward:\n    - {after: 15m, channel: '#sre'}\n    - {after: 1h, dm: [cto@example.com]}\n",
			wantErr: "f.yaml:7: approval.forward step 2: after 1h is not before approval.timeout 1h: the request expires first"},
		{name: "forward steps out of order", give: ok + "  forward:\n    - {after: 30m, channel: '#sre'}\n    - {after: 15m, dm: [cto@example.com]}\n",
			wantErr: "f.yaml:6: approval.forward step 2: after 15m must be later than the step before it (30m); each after counts from the request"},
		{name: "empty forward step", give: ok + "  forward:\n    - {after: 15m}\n",
			wantErr: "f.yaml:5: approval.forward step 1 is empty: name a channel, approvers, dm or a rule"},
		{name: "forward step with only a rule", give: ok + "  forward:\n    - {after: 15m, rule: 'approver.role == \"admin\"'}\n",
			wantErr: "f.yaml:5: approval.forward step 1 has only a rule, which names nobody to send the request to: add a channel or dm"},
		{name: "forward step with an unknown key", give: ok + "  forward:\n    - after: 15m\n      chanel: '#sre'\n",
			wantErr: `f.yaml:6: unknown key "chanel" in approval.forward step 1; did you mean "channel"?`},
		{name: "forward step dm not an email", give: ok + "  forward:\n    - after: 15m\n      dm: [cto]\n",
			wantErr: `f.yaml:6: approval.forward step 1: dm: "cto" is not an email address`},
		{name: "forward step rule does not compile", give: ok + "  forward:\n    - after: 15m\n      channel: '#sre'\n      rule: approvr.role == 'admin'\n",
			wantErr: "f.yaml:7: approval.forward step 1: rule does not compile: undeclared reference to 'approvr'"},

		// Strategy.
		{name: "strategy not a mapping", give: ok + "strategy: webhook\n", wantErr: `f.yaml:4: strategy must be a mapping (key: value), not "webhook"`},
		{name: "strategy without a type", give: ok + "strategy:\n  targets: [{id: t}]\n", wantErr: "f.yaml:4: strategy needs a type; the types are aws_iam, webhook"},
		{name: "unknown strategy type close to a known one", give: ok + "strategy:\n  type: webhok\n  targets: [{id: t}]\n",
			wantErr: `f.yaml:5: strategy type "webhok" is not known; did you mean "webhook"? The types are aws_iam, webhook`},
		{name: "unknown strategy type", give: ok + "strategy:\n  type: ldap\n  targets: [{id: t}]\n",
			wantErr: `f.yaml:5: strategy type "ldap" is not known; the types are aws_iam, webhook`},
		{name: "strategy without targets", give: ok + "strategy:\n  type: aws_iam\n", wantErr: "f.yaml:4: strategy needs at least one target"},
		{name: "strategy with an empty target list", give: ok + "strategy:\n  type: aws_iam\n  targets: []\n", wantErr: "f.yaml:6: strategy needs at least one target"},
		{name: "target without an id", give: ok + "strategy:\n  type: aws_iam\n  targets:\n    - label: T\n", wantErr: "f.yaml:7: a target needs an id"},
		{name: "blank target id", give: ok + "strategy:\n  type: aws_iam\n  targets:\n    - id: ' '\n", wantErr: "f.yaml:7: a target needs an id; this one is blank"},
		{name: "duplicate target ids", give: ok + "strategy:\n  type: aws_iam\n  targets:\n    - id: t\n    - id: t\n", wantErr: `f.yaml:8: target id "t" is used twice (first at line 7)`},
		{name: "target settings not a mapping", give: ok + "strategy:\n  type: aws_iam\n  targets:\n    - {id: t, settings: [a]}\n",
			wantErr: `f.yaml:7: target "t": settings must be a mapping (key: value), not a list`},
		{name: "strategy settings rejected by the strategy", give: ok + "strategy:\n  type: webhook\n  targets: [{id: t}]\n",
			wantErr: "f.yaml:5: strategy webhook: url is required"},

		// Hooks.
		{name: "hook not a URL", give: ok + "hooks:\n  on_request: not a url\n", wantErr: `f.yaml:5: hooks.on_request: "not a url" is not an http or https URL`},
		{name: "hook with another scheme", give: ok + "hooks:\n  on_deny: ftp://h.example.com/x\n", wantErr: `f.yaml:5: hooks.on_deny: "ftp://h.example.com/x" is not an http or https URL`},

		// All at once.
		{
			name: "every problem of a file, in line order",
			give: "name: Bad\nsources: [fax]\nfields:\n  - {name: duration, type: string}\napproval:\n  approvers: [nobody]\n  quorum: 0\nstrategy:\n  type: aws_iam\n  targets: []\n",
			wantErr: strings.Join([]string{
				`f.yaml:1: name "Bad" is not valid: use 1 to 64 lowercase letters, digits, "-" and "_"`,
				`f.yaml:2: sources: "fax" is not a source; use slack or api`,
				`f.yaml:4: field "duration" must have type duration: it sets how long access lasts`,
				`f.yaml:6: approval.approvers: "nobody" is not an email address`,
				`f.yaml:7: approval.quorum must be at least 1`,
				`f.yaml:10: strategy needs at least one target`,
			}, "\n"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := flows.Parse("f.yaml", []byte(tt.give), opts)
			if err == nil {
				t.Fatalf("Parse() = %+v, want error:\n%s", got, tt.wantErr)
			}
			if got != nil {
				t.Errorf("Parse() returned a flow with its problems")
			}
			var ps *flows.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %v (%T) is not a *flows.Problems", err, err)
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOnCall(t *testing.T) {
	give := `name: f
oncall: {provider: pagerduty, schedule_ids: [PSCHED1, PSCHED2], token_env: PAGERDUTY_TOKEN}
auto_approve: 'requester.on_call'
approval:
  rule: 'approver.on_call'
`
	f, err := flows.Parse("f.yaml", []byte(give), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := &latch.OnCallConfig{Provider: "pagerduty", ScheduleIDs: []string{"PSCHED1", "PSCHED2"}, TokenEnv: "PAGERDUTY_TOKEN"}
	if diff := cmp.Diff(want, f.OnCall); diff != "" {
		t.Errorf("oncall (-want +got):\n%s", diff)
	}
	if f.AutoApprove == nil || f.AutoApproveSource != "requester.on_call" {
		t.Fatalf("auto_approve %q not compiled", f.AutoApproveSource)
	}
	if ok, err := f.AutoApprove.Eval(latch.RuleVars{OnCall: latch.OnCall{Requester: true}}); !ok || err != nil {
		t.Errorf("auto_approve with the requester on call = %v, %v; want true", ok, err)
	}
}

func TestParseForward(t *testing.T) {
	give := `name: f
approval:
  channel: "#access-requests"
  approvers: [alice@example.com]
  forward:
    - {after: 15m, channel: "#sre-leads", approvers: [Lead@example.com]}
    - {after: 45m, dm: [cto@example.com]}
    - {after: 50m, approvers: [backup@example.com], rule: 'approver.role == "admin"'}
  timeout: 2h
`
	f, err := flows.Parse("f.yaml", []byte(give), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []latch.ForwardStep{
		{After: 15 * time.Minute, Channel: "#sre-leads", Approvers: []string{"lead@example.com"}},
		{After: 45 * time.Minute, DM: []string{"cto@example.com"}},
		{After: 50 * time.Minute, Approvers: []string{"backup@example.com"}, RuleSource: `approver.role == "admin"`},
	}
	if diff := cmp.Diff(want, f.Approval.Forward, cmpopts.IgnoreFields(latch.ForwardStep{}, "Rule")); diff != "" {
		t.Errorf("forward (-want +got):\n%s", diff)
	}
	if f.Approval.Forward[2].Rule == nil {
		t.Error("the third step's rule was not compiled")
	}
	if got := f.Approval.Forward[1].Destination(); !slices.Equal(got, []string{"cto@example.com"}) {
		t.Errorf("step 2 destination = %v", got)
	}
	if got := f.Approval.Forward[2].DMs(); !slices.Equal(got, []string{"backup@example.com"}) {
		t.Errorf("step 3 with neither channel nor dm DMs %v, want its approvers", got)
	}
}

func TestStrategyConfigErrorsPointAtTheSetting(t *testing.T) {
	o := flows.Options{Strategies: map[string]func(map[string]any, []latch.Target) error{
		"okta": func(config map[string]any, targets []latch.Target) error {
			var errs []error
			if config["domain"] == "bad" {
				errs = append(errs, &flows.ConfigError{Key: "domain", Reason: "must be a host name"})
			}
			for _, t := range targets {
				if _, ok := t.Settings["group_id"]; !ok {
					errs = append(errs, &flows.ConfigError{Target: t.ID, Reason: "needs settings.group_id"})
				} else if t.Settings["group_id"] == "" {
					errs = append(errs, &flows.ConfigError{Target: t.ID, Key: "group_id", Reason: "is empty"})
				}
			}
			errs = append(errs, errors.New("token_env is not set"))
			return errors.Join(errs...)
		},
	}}
	give := "name: f\napproval:\n  approvers: [a@example.com]\nstrategy:\n  type: okta\n  domain: bad\n  targets:\n" +
		"    - id: a\n      settings:\n        group_id: ''\n    - id: b\n"
	want := strings.Join([]string{
		`f.yaml:5: strategy okta: token_env is not set`,
		`f.yaml:6: strategy okta: domain: must be a host name`,
		`f.yaml:10: strategy okta: target "a": settings.group_id: is empty`,
		`f.yaml:11: strategy okta: target "b": needs settings.group_id`,
	}, "\n")
	_, err := flows.Parse("f.yaml", []byte(give), o)
	if err == nil {
		t.Fatalf("Parse() error = nil, want:\n%s", want)
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
}

func TestStrategyTypesWhenNoneAreAvailable(t *testing.T) {
	o := flows.Options{Strategies: map[string]func(map[string]any, []latch.Target) error{}}
	_, err := flows.Parse("f.yaml", []byte("name: f\napproval: {approvers: [a@example.com]}\nstrategy: {type: webhook, targets: [{id: t}]}\n"), o)
	want := `f.yaml:3: strategy type "webhook" is not known; no strategy types are available`
	if err == nil || err.Error() != want {
		t.Errorf("Parse() error = %v, want %q", err, want)
	}
}

func TestLoad(t *testing.T) {
	const valid = "name: %s\napproval:\n  approvers: [a@example.com]\n"
	tests := []struct {
		name      string
		give      map[string]string // file name → content
		want      []string          // flow names, in order
		wantErr   string            // with DIR for the directory
		wantPlain bool              // the error is not *Problems
	}{
		{
			name: "flow files sorted by name; other files ignored",
			give: map[string]string{
				"b.yml": fmt.Sprintf(valid, "bee"), "a.yaml": fmt.Sprintf(valid, "ay"), "c.yaml": fmt.Sprintf(valid, "sea"),
				"README.md": "# not a flow", ".hidden.yaml": "not: a flow", "notes.txt": "x",
			},
			want: []string{"ay", "bee", "sea"},
		},
		{
			name: "no flow files",
			give: map[string]string{"README.md": "# nothing"},
		},
		{
			name: "duplicate names reported in both files",
			give: map[string]string{"a.yaml": fmt.Sprintf(valid, "same"), "b.yaml": "# the same flow again\n" + fmt.Sprintf(valid, "same")},
			wantErr: strings.Join([]string{
				`DIR/a.yaml:1: flow name "same" is also used by DIR/b.yaml:2; flow names must be unique`,
				`DIR/b.yaml:2: flow name "same" is also used by DIR/a.yaml:1; flow names must be unique`,
			}, "\n"),
		},
		{
			name: "duplicate names found even in files with other problems",
			give: map[string]string{"a.yaml": fmt.Sprintf(valid, "same"), "b.yaml": "name: same\n"},
			wantErr: strings.Join([]string{
				`DIR/a.yaml:1: flow name "same" is also used by DIR/b.yaml:1; flow names must be unique`,
				`DIR/b.yaml:1: flow name "same" is also used by DIR/a.yaml:1; flow names must be unique`,
				`DIR/b.yaml:1: approval is required: name approvers, a rule or both`,
			}, "\n"),
		},
		{
			name: "problems of every file",
			give: map[string]string{"a.yaml": "", "b.yaml": fmt.Sprintf(valid, "ok"), "c.yaml": "name: c\napproval: {quorum: 1}\n"},
			wantErr: strings.Join([]string{
				`DIR/a.yaml:1: the file is empty; a flow file holds one flow`,
				`DIR/c.yaml:2: approval needs approvers, a rule or both; admins can always approve, but a flow must also say who else may`,
			}, "\n"),
		},
		{
			name:      "missing directory",
			give:      nil,
			wantErr:   "load flows: open DIR: no such file or directory",
			wantPlain: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.give == nil {
				dir = filepath.Join(dir, "missing")
			}
			for name, content := range tt.give {
				writeFile(t, filepath.Join(dir, name), content)
			}
			got, err := flows.Load(dir, opts)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "DIR", dir)
				if err == nil {
					t.Fatalf("Load() error = nil, want:\n%s", want)
				}
				if diff := cmp.Diff(want, err.Error()); diff != "" {
					t.Errorf("error mismatch (-want +got):\n%s", diff)
				}
				var ps *flows.Problems
				if errors.As(err, &ps) == tt.wantPlain {
					t.Errorf("error is *Problems: %v, want %v", !tt.wantPlain, !tt.wantPlain)
				}
				if got != nil {
					t.Errorf("Load() returned flows with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Load() error:\n%v", err)
			}
			var names []string
			for _, f := range got {
				names = append(names, f.Name)
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("flow names mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prod-access.yaml")
	writeFile(t, path, exampleFlow)
	got, err := flows.LoadFile(path, opts)
	if err != nil {
		t.Fatalf("LoadFile() error:\n%v", err)
	}
	if got.Name != "prod-access" || got.File != path {
		t.Errorf("LoadFile() = flow %q from %q, want prod-access from %q", got.Name, got.File, path)
	}
	if _, err := flows.LoadFile(filepath.Join(dir, "missing.yaml"), opts); err == nil || errors.As(err, new(*flows.Problems)) {
		t.Errorf("LoadFile(missing) error = %v, want a plain error", err)
	}
}

func TestProblemWithoutLine(t *testing.T) {
	p := flows.Problem{File: "f.yaml", Reason: "something"}
	if got, want := p.String(), "f.yaml: something"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestLoadPaths(t *testing.T) {
	const valid = "name: %s\napproval:\n  approvers: [a@example.com]\n"
	dir := t.TempDir()
	sub := filepath.Join(dir, "more")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"a.yaml": fmt.Sprintf(valid, "ay"), "b.yml": fmt.Sprintf(valid, "bee"), "notes.txt": "x",
		"more/c.yaml": fmt.Sprintf(valid, "sea"), "more/again.yaml": fmt.Sprintf(valid, "ay"),
		"flow.conf": fmt.Sprintf(valid, "conf"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names := func(fs []*latch.Flow) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	got, err := flows.LoadPaths([]string{filepath.Join(sub, "c.yaml"), dir, filepath.Join(dir, "a.yaml"), filepath.Join(dir, "flow.conf")}, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sea", "ay", "bee", "conf"}; !slices.Equal(names(got), want) {
		t.Errorf("flows %v, want %v: files as named, directories by name, each file once, a named file whatever its extension", names(got), want)
	}
	_, err = flows.LoadPaths([]string{dir, sub}, flows.Options{})
	var p *flows.Problems
	if !errors.As(err, &p) || !strings.Contains(err.Error(), `flow name "ay" is also used by`) {
		t.Errorf("a name used in two paths: err = %v, want a duplicate-name problem", err)
	}
	if got, err := flows.LoadPaths([]string{filepath.Join(dir, "notes.txt")}, flows.Options{}); err == nil {
		t.Errorf("a named file that is no flow loaded as %v", names(got))
	}
	if _, err := flows.LoadPaths([]string{filepath.Join(dir, "missing.yaml")}, flows.Options{}); err == nil || errors.As(err, &p) {
		t.Errorf("a missing path: err = %v, want a plain error", err)
	}
}

// A flow whose Slack form would hold more than 100 blocks is refused where
// its first field too many is.
func TestTooManyFieldsForSlack(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: f\napproval:\n  approvers: [a@example.com]\nfields:\n")
	for i := range 110 {
		fmt.Fprintf(&b, "  - {name: f%d, type: string}\n", i)
	}
	_, err := flows.Parse("f.yaml", []byte(b.String()), opts)
	want := fmt.Sprintf("f.yaml:%d: a flow has at most 97 fields (this is field 98)", 5+flows.MaxFields)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Parse() error %v, want one starting %q", err, want)
	}
	b.Reset()
	b.WriteString("name: f\napproval:\n  approvers: [a@example.com]\nfields:\n")
	for i := range flows.MaxFields {
		fmt.Fprintf(&b, "  - {name: f%d, type: string}\n", i)
	}
	if _, err := flows.Parse("f.yaml", []byte(b.String()), opts); err != nil {
		t.Errorf("%d fields refused: %v", flows.MaxFields, err)
	}
}

func TestIncludeDecisionMessage(t *testing.T) {
	const base = "name: f\napproval:\n  approvers: [a@example.com]\n"
	for _, tt := range []struct {
		give     string
		wantOmit bool
	}{
		{give: base, wantOmit: false},
		{give: base + "include_decision_message: true\n", wantOmit: false},
		{give: base + "include_decision_message: false\n", wantOmit: true},
	} {
		f, err := flows.Parse("f.yaml", []byte(tt.give), opts)
		if err != nil {
			t.Fatal(err)
		}
		if f.OmitDecisionMessage != tt.wantOmit {
			t.Errorf("%q: OmitDecisionMessage %v, want %v", tt.give, f.OmitDecisionMessage, tt.wantOmit)
		}
	}
	if _, err := flows.Parse("f.yaml", []byte(base+"include_decision_message: sometimes\n"), opts); err == nil {
		t.Error("a non-boolean include_decision_message was accepted")
	}
}

func TestParseBreakGlass(t *testing.T) {
	give := `name: f
approval:
  approvers: [alice@example.com]
break_glass:
  allowed: 'requester.role == "admin" || requester.email == "sre@example.com"'
  broadcast: "#security"
  max_duration: 1h
  review_within: 12h
`
	f, err := flows.Parse("f.yaml", []byte(give), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := &latch.BreakGlass{AllowedSource: `requester.role == "admin" || requester.email == "sre@example.com"`,
		Broadcast: "#security", MaxDuration: time.Hour, ReviewWithin: 12 * time.Hour}
	if diff := cmp.Diff(want, f.BreakGlass, cmpopts.IgnoreFields(latch.BreakGlass{}, "Allowed")); diff != "" {
		t.Errorf("break_glass (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		user *latch.User
		want bool
	}{
		{&latch.User{Email: "sre@example.com", Role: latch.RoleMember}, true},
		{&latch.User{Email: "boss@example.com", Role: latch.RoleAdmin}, true},
		{&latch.User{Email: "dev@example.com", Role: latch.RoleMember}, false},
	} {
		if got, err := f.BreakGlass.Allowed.Eval(latch.RuleVars{Requester: tt.user, Flow: f}); got != tt.want || err != nil {
			t.Errorf("allowed for %s = %v, %v; want %v", tt.user.Email, got, err, tt.want)
		}
	}

	f, err = flows.Parse("f.yaml", []byte("name: f\napproval: {approvers: [a@example.com]}\nbreak_glass: {allowed: 'true', broadcast: C0SECURITY, max_duration: 30m}\n"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if f.BreakGlass.ReviewWithin != 24*time.Hour {
		t.Errorf("review_within left out = %v, want 24h", f.BreakGlass.ReviewWithin)
	}
}

func TestParseBreakGlassProblems(t *testing.T) {
	const ok = "name: f\napproval:\n  approvers: [a@example.com]\n"
	tests := []struct {
		name    string
		give    string
		wantErr string
	}{
		{name: "not a mapping", give: ok + "break_glass: true\n",
			wantErr: "f.yaml:4: break_glass must be a mapping (key: value), not true"},
		{name: "everything missing", give: ok + "break_glass: {review_within: 2h}\n",
			wantErr: "f.yaml:4: break_glass.allowed is required: a rule saying who may break glass, such as requester.role == \"admin\"\n" +
				"f.yaml:4: break_glass.broadcast is required: the Slack channel told of every break glass, such as \"#security\"\n" +
				"f.yaml:4: break_glass.max_duration is required: the longest access a break glass grants, such as 1h"},
		{name: "a rule that does not compile", give: ok + "break_glass:\n  allowed: 'requester.email'\n  broadcast: '#security'\n  max_duration: 1h\n",
			wantErr: "f.yaml:5: break_glass.allowed does not compile: the rule must give true or false (bool), not string"},
		{name: "a rule about an approver", give: ok + "break_glass:\n  allowed: 'approver.role == \"admin\"'\n  broadcast: '#security'\n  max_duration: 1h\n",
			wantErr: "f.yaml:5: break_glass.allowed sees no approver: it judges the person breaking glass; use requester and flow"},
		{name: "a bad duration", give: ok + "break_glass:\n  allowed: 'true'\n  broadcast: '#security'\n  max_duration: soon\n",
			wantErr: `f.yaml:7: break_glass.max_duration: "soon" is not a duration (write 30m, 4h or 1d)`},
		{name: "a zero review time", give: ok + "break_glass:\n  allowed: 'true'\n  broadcast: '#security'\n  max_duration: 1h\n  review_within: 0m\n",
			wantErr: "f.yaml:8: break_glass.review_within must be positive; remove it for the default of 24h"},
		{name: "a channel with a space", give: ok + "break_glass:\n  allowed: 'true'\n  broadcast: 'security team'\n  max_duration: 1h\n",
			wantErr: `f.yaml:6: break_glass.broadcast "security team" is not a Slack channel: write its name (#security) or id`},
		{name: "no scheduled end", give: ok + "schedule_deescalation: false\nstrategy: {type: aws_iam, targets: [{id: t}]}\nbreak_glass:\n  allowed: 'true'\n  broadcast: '#security'\n  max_duration: 1h\n",
			wantErr: "f.yaml:6: break_glass needs schedule_deescalation: without a scheduled end its max_duration would never be enforced"},
		{name: "an unknown key", give: ok + "break_glass:\n  allowed: 'true'\n  broadcast: '#security'\n  max_duration: 1h\n  review: 1h\n",
			wantErr: `f.yaml:8: unknown key "review" in break_glass; the keys are allowed, broadcast, max_duration, review_within`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := flows.Parse("f.yaml", []byte(tt.give), opts)
			if err == nil {
				t.Fatal("Parse succeeded, want problems")
			}
			if diff := cmp.Diff(tt.wantErr, err.Error()); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTooManyFieldsForBreakGlass(t *testing.T) {
	flow := func(n int) string {
		var b strings.Builder
		b.WriteString("name: f\napproval:\n  approvers: [a@example.com]\nbreak_glass: {allowed: 'true', broadcast: '#security', max_duration: 1h}\nfields:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - {name: f%d, type: string}\n", i)
		}
		return b.String()
	}
	if _, err := flows.Parse("f.yaml", []byte(flow(flows.MaxFieldsWithBreakGlass)), opts); err != nil {
		t.Errorf("%d fields refused: %v", flows.MaxFieldsWithBreakGlass, err)
	}
	_, err := flows.Parse("f.yaml", []byte(flow(flows.MaxFieldsWithBreakGlass+1)), opts)
	want := "f.yaml:4: a flow with break_glass has at most 95 fields (this one has 96)"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Parse() error %v, want one starting %q", err, want)
	}
}
