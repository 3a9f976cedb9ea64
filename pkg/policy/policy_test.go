package policy_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/policy"
)

func TestCompileRuleRejects(t *testing.T) {
	tests := []struct {
		name string
		give string
		want policy.CompileError
	}{
		{
			name: "empty rule",
			give: "  ",
			want: policy.CompileError{Reason: "the rule is empty"},
		},
		{
			name: "syntax error",
			give: `approver.email.endsWith("@example.com"`,
			want: policy.CompileError{Line: 1, Column: 39, Reason: "Syntax error: missing ')' at the end of the rule"},
		},
		{
			name: "syntax error without the parser's token list",
			give: `approver.email == `,
			want: policy.CompileError{Line: 1, Column: 19, Reason: "Syntax error: unexpected end of rule"},
		},
		{
			name: "unknown variable",
			give: `approvr.email == "a@example.com"`,
			want: policy.CompileError{Line: 1, Column: 1, Reason: "undeclared reference to 'approvr'"},
		},
		{
			name: "unknown variable on a later line",
			give: "approver.email == \"a@example.com\" &&\n  reqester.role == \"member\"",
			want: policy.CompileError{Line: 2, Column: 3, Reason: "undeclared reference to 'reqester'"},
		},
		{
			name: "unknown key of a user",
			give: `approver.emial == "a@example.com"`,
			want: policy.CompileError{Line: 1, Column: 9, Reason: `approver has no key "emial"; it has email, role, id, name, kind, on_call`},
		},
		{
			name: "unknown key of the request inside has",
			give: `has(request.feilds.reason)`,
			want: policy.CompileError{Line: 1, Column: 12, Reason: `request has no key "feilds"; it has id, flow, fields, context, target_id, source`},
		},
		{
			name: "unknown key of the flow",
			give: `flow.id == "x"`,
			want: policy.CompileError{Line: 1, Column: 5, Reason: `flow has no key "id"; it has name, label`},
		},
		{
			name: "identity rule variable in an approval rule",
			give: `user.email == "a@example.com"`,
			want: policy.CompileError{Line: 1, Column: 1, Reason: "undeclared reference to 'user'"},
		},
		{
			name: "string result",
			give: `approver.email`,
			want: policy.CompileError{Reason: "the rule must give true or false (bool), not string"},
		},
		{
			name: "int result",
			give: `1 + 2`,
			want: policy.CompileError{Reason: "the rule must give true or false (bool), not int"},
		},
		{
			name: "result known only at run time",
			give: `request.fields.urgent`,
			want: policy.CompileError{Reason: "the rule must give true or false (bool), but its type is only known when it runs; compare it explicitly, e.g. request.fields.urgent == true"},
		},
		{
			name: "type mismatch",
			give: `approver.email == 1`,
			want: policy.CompileError{Line: 1, Column: 16, Reason: "found no matching overload for '_==_' applied to '(string, int)'"},
		},
		{
			name: "too long",
			give: strings.Repeat("true || ", 2000) + "true",
			want: policy.CompileError{Line: -1, Column: -1, Reason: "expression code point size exceeds limit: size: 16004, limit 10000"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := policy.CompileRule(tt.give)
			if err == nil {
				t.Fatalf("CompileRule(%q) = %v, want an error", tt.give, rule)
			}
			if rule != nil {
				t.Errorf("CompileRule(%q) returned a rule with the error", tt.give)
			}
			var ce *policy.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *CompileError", err, err)
			}
			want := tt.want
			if want.Line < 0 { // position not part of the behaviour under test
				want.Line, want.Column = ce.Line, ce.Column
			}
			if diff := cmp.Diff(want, *ce); diff != "" {
				t.Errorf("CompileError mismatch (-want +got):\n%s", diff)
			}
			if got, wantMsg := err.Error(), "rule does not compile: "+tt.want.Reason; got != wantMsg {
				t.Errorf("Error() = %q, want %q", got, wantMsg)
			}
		})
	}
}

func TestRuleEval(t *testing.T) {
	alice := &latch.User{ID: "u1", Email: "alice@example.com", Name: "Alice", Role: latch.RoleMember, Kind: latch.KindPerson}
	admin := &latch.User{ID: "u2", Email: "root@example.com", Role: latch.RoleAdmin, Kind: latch.KindPerson}
	outsider := &latch.User{Email: "eve@other.test", Role: latch.RoleGuest}
	req := &latch.Request{
		ID: "r1", Flow: "prod-access", TargetID: "prod-db", Source: latch.SourceAPI,
		Fields: latch.Fields{
			"reason": "incident 42", "duration": int64(3600), "urgent": true,
			"teams": []string{"db", "sre"}, "ports": []int64{5432},
		},
		Context: map[string]any{"ci": map[string]any{"branch": "main"}},
	}
	flow := &latch.Flow{Name: "prod-access", Label: "Production access"}
	vars := latch.RuleVars{Approver: alice, Requester: admin, Request: req, Flow: flow}

	tests := []struct {
		name    string
		give    string
		vars    latch.RuleVars
		want    bool
		wantErr string
	}{
		{name: "approver in the domain", give: `approver.email.endsWith("@example.com")`, vars: vars, want: true},
		{name: "approver outside the domain", give: `approver.email.endsWith("@example.com")`,
			vars: latch.RuleVars{Approver: outsider}, want: false},
		{name: "requester role", give: `requester.role == "admin"`, vars: vars, want: true},
		{name: "approver id, name and kind", give: `approver.id == "u1" && approver.name == "Alice" && approver.kind == "person"`, vars: vars, want: true},
		{name: "string field", give: `request.fields.reason.startsWith("incident")`, vars: vars, want: true},
		{name: "duration field in seconds", give: `request.fields.duration <= 4 * 3600`, vars: vars, want: true},
		{name: "bool field", give: `request.fields.urgent == true`, vars: vars, want: true},
		{name: "list field", give: `"sre" in request.fields.teams`, vars: vars, want: true},
		{name: "int list field", give: `request.fields.ports.exists(p, p == 5432)`, vars: vars, want: true},
		{name: "missing field tested with has", give: `has(request.fields.ticket) && request.fields.ticket != ""`, vars: vars, want: false},
		{name: "request metadata", give: `request.id == "r1" && request.flow == "prod-access" && request.target_id == "prod-db" && request.source == "api"`, vars: vars, want: true},
		{name: "request context", give: `request.context.ci.branch == "main"`, vars: vars, want: true},
		{name: "flow name and label", give: `flow.name == "prod-access" && flow.label == "Production access"`, vars: vars, want: true},
		{name: "string extension split", give: `approver.email.split("@")[1] == "example.com"`, vars: vars, want: true},
		{name: "nil users are empty maps", give: `!has(approver.email) && !has(requester.email) && !has(request.id) && !has(flow.name)`, want: true},
		{name: "request without fields has an empty fields map", give: `size(request.fields) == 0 && size(request.context) == 0`,
			vars: latch.RuleVars{Request: &latch.Request{ID: "r2"}}, want: true},
		{name: "missing field key", give: `request.fields.ticket == "T-1"`, vars: vars, wantErr: "evaluate rule: no such key: ticket"},
		{name: "missing key of a nil user", give: `approver.email == "a@example.com"`, wantErr: "evaluate rule: no such key: email"},
		{name: "index out of range", give: `approver.email.split("+")[1] == "x"`, vars: vars, wantErr: "evaluate rule: index out of bounds: 1"},
		{name: "run-time type mismatch", give: `request.fields.reason > 3`, vars: vars, wantErr: "evaluate rule: no such overload"},
		{
			name:    "cost limit",
			give:    `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`,
			wantErr: "evaluate rule: operation cancelled: actual cost limit exceeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := mustCompile(t, tt.give)
			got, err := rule.Eval(tt.vars)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Eval() = %v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("Eval() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRuleSourceIsKept(t *testing.T) {
	const src = `approver.role == "member"`
	rule := mustCompile(t, src)
	if got := rule.(*policy.Rule).Source(); got != src {
		t.Errorf("Source() = %q, want %q", got, src)
	}
}

func TestRuleIsUsableByTheDomain(t *testing.T) {
	rule := mustCompile(t, `approver.email.endsWith("@example.com")`)
	f := &latch.Flow{Name: "f", Approval: latch.Approval{Rule: rule, Quorum: 1}}
	r := &latch.Request{ID: "r", Flow: "f", Requester: latch.UserRef{Email: "req@example.com"}}
	requester := &latch.User{Email: "req@example.com", Role: latch.RoleMember}
	if err := latch.CanDecide(f, r, &latch.User{Email: "bob@example.com", Role: latch.RoleMember}, requester, latch.OnCall{}); err != nil {
		t.Errorf("CanDecide(bob@example.com) = %v, want nil", err)
	}
	if err := latch.CanDecide(f, r, &latch.User{Email: "eve@other.test", Role: latch.RoleMember}, requester, latch.OnCall{}); latch.ErrorCodeOf(err) != latch.CodeNotApprover {
		t.Errorf("CanDecide(eve@other.test) = %v, want %s", err, latch.CodeNotApprover)
	}
}

func TestRuleIsSafeForConcurrentUse(t *testing.T) {
	rule := mustCompile(t, `approver.email.endsWith("@example.com") && request.fields.n > 0`)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				email := "a@example.com"
				if (i+j)%2 == 1 {
					email = "a@other.test"
				}
				got, err := rule.Eval(latch.RuleVars{
					Approver: &latch.User{Email: email},
					Request:  &latch.Request{Fields: latch.Fields{"n": int64(j + 1)}},
				})
				if err != nil || got != ((i+j)%2 == 0) {
					errs <- errors.New("wrong result under concurrent use")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIdentityRule(t *testing.T) {
	alice := &latch.User{ID: "u1", Email: "alice.smith@example.com", Name: "Alice", Role: latch.RoleMember}
	tests := []struct {
		name    string
		give    string
		user    *latch.User
		want    string
		wantErr string
	}{
		{name: "local part of the email", give: `user.email.split("@")[0]`, user: alice, want: "alice.smith"},
		{name: "rewritten", give: `user.email.split("@")[0].replace(".", "-").upperAscii()`, user: alice, want: "ALICE-SMITH"},
		{name: "conditional", give: `user.role == "admin" ? "admin-" + user.id : user.id`, user: alice, want: "u1"},
		{name: "empty result", give: `user.name.substring(0, 0)`, user: alice, wantErr: policy.ErrEmptyIdentity.Error()},
		{name: "nil user", give: `user.email`, wantErr: "evaluate identity rule: no such key: email"},
		{name: "index out of range", give: `user.email.split("+")[1]`, user: alice, wantErr: "evaluate identity rule: index out of bounds: 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := policy.CompileIdentityRule(tt.give)
			if err != nil {
				t.Fatalf("CompileIdentityRule(%q) error = %v", tt.give, err)
			}
			got, err := rule.Eval(tt.user)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Eval() = %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("Eval() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCompileIdentityRuleRejects(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string
	}{
		{name: "bool result", give: `user.email.endsWith("@example.com")`, want: "rule does not compile: the rule must give a string, not bool"},
		{name: "approval variable", give: `approver.email`, want: "rule does not compile: undeclared reference to 'approver'"},
		{name: "unknown key", give: `user.mail`, want: `rule does not compile: user has no key "mail"; it has email, role, id, name, kind`},
		{name: "syntax error", give: `user.email.split("@"`, want: "rule does not compile: Syntax error: missing ')' at the end of the rule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.CompileIdentityRule(tt.give)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("CompileIdentityRule(%q) error = %v, want %q", tt.give, err, tt.want)
			}
		})
	}
}

func mustCompile(tb testing.TB, src string) latch.Rule {
	tb.Helper()
	rule, err := policy.CompileRule(src)
	if err != nil {
		tb.Fatalf("CompileRule(%q) error = %v", src, err)
	}
	return rule
}

func BenchmarkRuleEval(b *testing.B) {
	rule := mustCompile(b, `approver.email.endsWith("@example.com") && approver.email != requester.email && request.fields.duration <= 14400`)
	vars := latch.RuleVars{
		Approver:  &latch.User{ID: "u1", Email: "alice@example.com", Role: latch.RoleMember, Kind: latch.KindPerson},
		Requester: &latch.User{ID: "u2", Email: "bob@example.com", Role: latch.RoleMember, Kind: latch.KindPerson},
		Request:   &latch.Request{ID: "r1", Flow: "prod-access", Fields: latch.Fields{"reason": "incident", "duration": int64(3600)}},
		Flow:      &latch.Flow{Name: "prod-access"},
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, err := rule.Eval(vars)
		if err != nil || !ok {
			b.Fatalf("Eval() = %v, %v", ok, err)
		}
	}
}

func TestBotRule(t *testing.T) {
	alice := &latch.User{ID: "u1", Email: "alice@example.com", Name: "Alice", Role: latch.RoleMember, Kind: latch.KindPerson}
	ci := &latch.User{ID: "u9", Email: "ci@bots.invalid", Name: "ci", Role: latch.RoleMember, Kind: latch.KindBot}
	tests := []struct {
		name    string
		give    string
		person  *latch.User
		want    bool
		wantErr string
	}{
		{name: "the person's domain", give: `person.email.endsWith("@example.com") && person.role != "guest"`, person: alice, want: true},
		{name: "another domain", give: `person.email.endsWith("@corp.example")`, person: alice, want: false},
		{name: "sees the bot", give: `bot.name == "ci" && bot.kind == "bot" && person.kind == "person"`, person: alice, want: true},
		{name: "nobody", give: `false`, person: alice, want: false},
		{name: "index out of range", give: `person.email.split("+")[1] == "x"`, person: alice, wantErr: "evaluate bot rule: index out of bounds: 1"},
		{
			name:    "cost limit",
			give:    `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, a+b+c+d+e > 0)))))`,
			person:  alice,
			wantErr: "evaluate bot rule: operation cancelled: actual cost limit exceeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule, err := policy.CompileBotRule(tt.give)
			if err != nil {
				t.Fatalf("CompileBotRule(%q) error = %v", tt.give, err)
			}
			if rule.Source() != tt.give {
				t.Errorf("Source() = %q", rule.Source())
			}
			got, err := rule.Eval(tt.person, ci)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Eval() = %v, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Eval() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCompileBotRuleRejects(t *testing.T) {
	tests := []struct {
		name, give, want string
	}{
		{name: "string result", give: `person.email`, want: "rule does not compile: the rule must give true or false (bool), not string"},
		{name: "approval variable", give: `approver.email == "a@example.com"`, want: "rule does not compile: undeclared reference to 'approver'"},
		{name: "unknown key", give: `person.mail == "x"`, want: `rule does not compile: person has no key "mail"; it has email, role, id, name, kind`},
		{name: "syntax error", give: `person.email.endsWith("@example.com"`, want: "rule does not compile: Syntax error: missing ')' at the end of the rule"},
		{name: "empty", give: ` `, want: "rule does not compile: the rule is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.CompileBotRule(tt.give)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("CompileBotRule(%q) error = %v, want %q", tt.give, err, tt.want)
			}
		})
	}
}

// approver.on_call and requester.on_call are booleans beside the users'
// strings: a rule may use them alone, and they are what RuleVars.OnCall says.
func TestOnCallInRules(t *testing.T) {
	tests := []struct {
		src  string
		give latch.OnCall
		want bool
	}{
		{src: "requester.on_call", give: latch.OnCall{Requester: true}, want: true},
		{src: "requester.on_call", give: latch.OnCall{Approver: true}, want: false},
		{src: "approver.on_call && approver.email.endsWith('@example.com')", give: latch.OnCall{Approver: true}, want: true},
		{src: "approver.on_call", give: latch.OnCall{Requester: true}, want: false},
		{src: "!approver.on_call", give: latch.OnCall{Err: "PagerDuty answered 500"}, want: true},
	}
	for _, tt := range tests {
		rule, err := policy.CompileRule(tt.src)
		if err != nil {
			t.Fatalf("CompileRule(%q): %v", tt.src, err)
		}
		got, err := rule.Eval(latch.RuleVars{Approver: &latch.User{Email: "bob@example.com"}, OnCall: tt.give})
		if err != nil || got != tt.want {
			t.Errorf("%q with %+v = %v, %v; want %v", tt.src, tt.give, got, err, tt.want)
		}
	}
	if _, err := policy.CompileIdentityRule("user.on_call"); err == nil {
		t.Error("an identity rule compiled user.on_call; only approval rules see it")
	}
}

// Lazy's rules evaluate as Compiler's do, and a rule that does not compile
// loads but fails closed at every Eval with its *CompileError.
func TestLazyRules(t *testing.T) {
	lazy := policy.Lazy{}
	ann := &latch.User{Email: "ann@example.com", Role: "member"}
	rule, err := lazy.CompileRule(`approver.role == "member"`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := rule.Eval(latch.RuleVars{Approver: ann}); err != nil || !ok {
		t.Errorf("Eval() = %v, %v; want true", ok, err)
	}
	id, err := lazy.CompileIdentityRule(`user.email.split("@")[0]`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := id.Eval(ann); err != nil || got != "ann" {
		t.Errorf("identity Eval() = %q, %v; want ann", got, err)
	}

	bad, err := lazy.CompileRule(`approver.rol == "member"`)
	if err != nil {
		t.Fatalf("a lazy rule compiled when loaded: %v", err)
	}
	var ce *policy.CompileError
	for range 2 {
		if ok, err := bad.Eval(latch.RuleVars{Approver: ann}); ok || !errors.As(err, &ce) {
			t.Errorf("a rule that does not compile: Eval() = %v, %v; want false and its CompileError", ok, err)
		}
	}
	badID, err := lazy.CompileIdentityRule(`user.email == "x"`) // not a string
	if err != nil {
		t.Fatal(err)
	}
	if got, err := badID.Eval(ann); got != "" || !errors.As(err, &ce) {
		t.Errorf("an identity rule that does not compile: Eval() = %q, %v; want its CompileError", got, err)
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if ok, err := rule.Eval(latch.RuleVars{Approver: ann}); err != nil || !ok {
				t.Errorf("concurrent Eval() = %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
}
