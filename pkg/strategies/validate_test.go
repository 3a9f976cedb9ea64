package strategies_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/latchhq/latch/pkg/escalator/awsiam"
	"github.com/latchhq/latch/pkg/escalator/awsiam/iamfake"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies"
)

func TestValidateTargets(t *testing.T) {
	fake := iamfake.New([]string{"jane"}, []string{"prod-admins"})
	iamfake.Serve(t, fake)
	parse := func(name, text string) *latch.Flow {
		t.Helper()
		f, err := flows.Parse(name+".yaml", []byte(text), strategies.FlowOptions())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := parse("good", strings.Replace(iamFlow, "  role_arn: arn:aws:iam::123456789012:role/latch-iam\n", "", 1))
	bad := parse("bad", strings.Replace(strings.Replace(iamFlow, "name: iam", "name: iam2", 1),
		"role_arn: arn:aws:iam::123456789012:role/latch-iam\n  targets: [{id: prod, settings: {group: prod-admins}}]",
		"targets: [{id: prod, settings: {group: prod-admins}}, {id: typo, settings: {group: prod-admnis}}]", 1))
	hook := parse("hook", flow) // webhook: cannot validate; its escalator is not even built
	esc := &strategies.Escalators{}
	err := strategies.ValidateTargets(context.Background(), []*latch.Flow{good, bad, hook}, esc.For)
	wrong, unchecked := strategies.Problems(err)
	if len(wrong) != 1 || len(unchecked) != 0 {
		t.Fatalf("problems = %v / %v, want the one missing group", wrong, unchecked)
	}
	if p := wrong[0]; p.Flow != "iam2" || p.Target != "typo" || !strings.Contains(p.Error(), `"prod-admnis"`) ||
		!strings.Contains(p.Error(), "bad.yaml") {
		t.Errorf("problem = %v", p)
	}
	if n := len(fake.CallsOf("GetGroup")); n != 3 {
		t.Errorf("GetGroup called %d times, want once per aws_iam target", n)
	}

	// IAM does not answer: the target could not be checked, which is not the
	// same as wrong.
	fake.Throttle("GetGroup", 100)
	slow, err := awsiam.New(context.Background(), nil, awsiam.WithRetryer(oneTry))
	if err != nil {
		t.Fatal(err)
	}
	err = strategies.ValidateTargets(context.Background(), []*latch.Flow{good},
		func(*latch.Flow) (latch.Escalator, error) { return slow, nil })
	wrong, unchecked = strategies.Problems(err)
	if len(wrong) != 0 || len(unchecked) != 1 {
		t.Errorf("throttled: problems = %v / %v, want one unchecked", wrong, unchecked)
	}
}

func oneTry() aws.Retryer { return aws.NopRetryer{} }

// warner is an escalator that can tell whether access outlasts a grant: it
// warns when its session (per target) is longer than the longest grant.
type warner struct {
	latch.Escalator
	session map[string]time.Duration
	asked   []time.Duration
}

func (w *warner) SessionWarning(_ context.Context, t latch.Target, longest time.Duration) (string, error) {
	w.asked = append(w.asked, longest)
	if s := w.session[t.ID]; s > longest {
		return fmt.Sprintf("target %q: sessions last %s", t.ID, s), nil
	}
	return "", nil
}

func TestSessionWarnings(t *testing.T) {
	const ssoFlow = `name: sso
approval: {approvers: [a@example.com]}
fields:
  - {name: duration, type: duration, max: 2h}
strategy:
  type: aws_sso
  instance_arn: arn:aws:sso:::instance/ssoins-1234567890abcdef
  identity_store_id: d-1234567890
  targets:
    - {id: short, settings: {permission_set_arn: "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1111111111111111", account_id: "123456789012"}}
    - {id: long, settings: {permission_set_arn: "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-2222222222222222", account_id: "123456789012"}}
`
	withMax, err := flows.Parse("sso.yaml", []byte(ssoFlow), strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	noMax, err := flows.Parse("open.yaml", []byte(strings.Replace(strings.Replace(ssoFlow, "name: sso", "name: open", 1),
		"  - {name: duration, type: duration, max: 2h}\n", "  - {name: duration, type: duration}\n", 1)), strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	w := &warner{session: map[string]time.Duration{"short": time.Hour, "long": 12 * time.Hour}}
	got := strategies.SessionWarnings(context.Background(), []*latch.Flow{withMax, noMax},
		func(*latch.Flow) (latch.Escalator, error) { return w, nil })
	if len(got) != 1 || !strings.Contains(got[0], `sso.yaml: flow "sso": target "long": sessions last 12h0m0s`) {
		t.Errorf("warnings = %q, want one for the long target of the flow with a maximum", got)
	}
	if len(w.asked) != 2 || w.asked[0] != 2*time.Hour {
		t.Errorf("asked with longest %v, want 2h for each target of the flow with a maximum, and nothing for the other", w.asked)
	}
}
