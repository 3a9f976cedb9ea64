package policy_test

import (
	"errors"
	"testing"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/policy"
)

// FuzzCompileRule feeds arbitrary text to the rule compiler. It must never
// panic; a rule that compiles must evaluate without panicking, and a rule
// that does not must fail with a *CompileError.
func FuzzCompileRule(f *testing.F) {
	for _, s := range []string{
		`approver.email.endsWith("@example.com")`,
		`has(request.fields.ticket) && request.fields.ticket.startsWith("INC-")`,
		`approver.email.split("@")[1] == requester.email.split("@")[1]`,
		`[1, 2, 3].all(x, [1, 2].exists(y, x > y))`,
		`request.fields.duration <= 3600 || flow.name == "x"`,
		`approver.emial == 1 +`,
	} {
		f.Add(s)
	}
	vars := latch.RuleVars{
		Approver:  &latch.User{Email: "a@example.com", Role: latch.RoleMember},
		Requester: &latch.User{Email: "b@example.com", Role: latch.RoleAdmin},
		Request:   &latch.Request{ID: "r", Fields: latch.Fields{"duration": int64(60), "ticket": "INC-1", "teams": []string{"a"}}},
		Flow:      &latch.Flow{Name: "f"},
	}
	f.Fuzz(func(t *testing.T, src string) {
		rule, err := policy.CompileRule(src)
		if err != nil {
			var ce *policy.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("CompileRule(%q) error %v (%T) is not a *CompileError", src, err, err)
			}
			return
		}
		_, _ = rule.Eval(vars)
		_, _ = rule.Eval(latch.RuleVars{})
	})
}
