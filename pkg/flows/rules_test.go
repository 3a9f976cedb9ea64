package flows_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	// The tests of this package compile rules as every program that links
	// package policy does (flows.DefaultRules).
	"github.com/latchhq/latch/pkg/policy"
)

const ruleFlow = `name: r
approval:
  approvers: [lead@example.com]
  rule: approver.role == "admin"
visible_to: requester.email.endsWith("@example.com")
auto_approve: request.fields.service == "web"
identity:
  rule: user.email.split("@")[0]
strategy:
  type: webhook
  targets: [{id: t}]
`

func TestLinkingPolicyCompilesRulesByDefault(t *testing.T) {
	if _, ok := flows.DefaultRules.(policy.Compiler); !ok {
		t.Fatalf("DefaultRules is %T, want policy.Compiler", flows.DefaultRules)
	}
	f, err := flows.Parse("r.yaml", []byte(ruleFlow), flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := f.Approval.Rule.Eval(latch.RuleVars{Approver: &latch.User{Email: "a@example.com", Role: latch.RoleAdmin}, Flow: f})
	if err != nil || !ok {
		t.Errorf("approval.rule for an admin: %v, %v; want true", ok, err)
	}
	_, err = flows.Parse("r.yaml", []byte(strings.Replace(ruleFlow, `approver.role == "admin"`, `approver.rol == "admin"`, 1)), flows.Options{})
	if err == nil || !strings.Contains(err.Error(), "r.yaml:4:") {
		t.Errorf("a rule that does not compile: %v, want a problem at r.yaml:4", err)
	}
}

// Uncompiled reads every rule but compiles none, and each of them fails
// closed: a program that did not compile a rule can never allow anything by
// it.
func TestUncompiledRulesFailClosed(t *testing.T) {
	f, err := flows.Parse("r.yaml", []byte(ruleFlow), flows.Options{Rules: flows.Uncompiled})
	if err != nil {
		t.Fatal(err)
	}
	if f.Approval.RuleSource != `approver.role == "admin"` || f.Identity.RuleSource != `user.email.split("@")[0]` {
		t.Errorf("sources %q, %q: want the rules' text kept", f.Approval.RuleSource, f.Identity.RuleSource)
	}
	vars := latch.RuleVars{Approver: &latch.User{Email: "a@example.com", Role: latch.RoleAdmin}, Requester: &latch.User{Email: "d@example.com"}, Flow: f}
	for name, r := range map[string]latch.Rule{"approval.rule": f.Approval.Rule, "visible_to": f.VisibleTo, "auto_approve": f.AutoApprove} {
		if ok, err := r.Eval(vars); ok || !errors.Is(err, flows.ErrRuleNotCompiled) {
			t.Errorf("%s: %v, %v; want false and ErrRuleNotCompiled", name, ok, err)
		}
	}
	if id, err := f.Identity.Rule.Eval(&latch.User{Email: "d@example.com"}); id != "" || !errors.Is(err, flows.ErrRuleNotCompiled) {
		t.Errorf("identity.rule: %q, %v; want ErrRuleNotCompiled", id, err)
	}
}
