package strategies_test

import (
	"context"
	"strings"
	"testing"

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
