package strategies_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies"
	"github.com/latchhq/latch/pkg/strategies/strategy"
	"github.com/latchhq/latch/pkg/strategies/webhook"
)

const flow = `name: f
approval: {approvers: [a@example.com]}
strategy:
  type: webhook
  url: http://127.0.0.1:9/hook
  secret_env: HOOK_SECRET
  targets: [{id: t}]
`

func TestRegistry(t *testing.T) {
	if !slices.Contains(strategies.Types(), "webhook") {
		t.Fatalf("types %v lack webhook", strategies.Types())
	}
	f, err := flows.Parse("f.yaml", []byte(flow), strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	// A deployment without the webhook strategy refuses the flow.
	if _, err := flows.Parse("f.yaml", []byte(flow), strategies.FlowOptions("aws_iam")); err == nil {
		t.Errorf("a flow of a strategy the deployment lacks loaded")
	}
	if _, err := flows.Parse("f.yaml", []byte(strings.Replace(flow, "http://127.0.0.1:9/hook", "not a url", 1)), strategies.FlowOptions()); err == nil {
		t.Errorf("a bad webhook url passed the check")
	}

	esc := &strategies.Escalators{LookupEnv: func(name string) (string, bool) { return "s3cret", name == "HOOK_SECRET" }}
	a, err := esc.For(f)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := esc.For(f); a != b {
		t.Errorf("a flow's escalator was built twice")
	}
	if _, err := (&strategies.Escalators{}).For(f); err == nil || !strings.Contains(err.Error(), "HOOK_SECRET") {
		t.Errorf("a missing secret: %v, want an error naming it", err)
	}
}

const iamFlow = `name: iam
approval: {approvers: [a@example.com]}
strategy:
  type: aws_iam
  role_arn: arn:aws:iam::123456789012:role/latch-iam
  targets: [{id: prod, settings: {group: prod-admins}}]
`

func TestAWSIAMEntry(t *testing.T) {
	if !slices.Contains(strategies.Types(), "aws_iam") {
		t.Fatalf("types %v lack aws_iam", strategies.Types())
	}
	f, err := flows.Parse("iam.yaml", []byte(iamFlow), strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flows.Parse("iam.yaml", []byte(strings.Replace(iamFlow, "group: prod-admins", "group: arn:aws:iam::1:group/x", 1)), strategies.FlowOptions()); err == nil ||
		!strings.Contains(err.Error(), "not an IAM group name") {
		t.Errorf("a group ARN: %v, want the group name's error", err)
	}
	if _, err := (&strategies.Escalators{}).For(f); err != nil {
		t.Errorf("building the aws_iam escalator: %v", err)
	}
}

func TestAWSLambdaEntry(t *testing.T) {
	const lambdaFlow = `name: db
approval: {approvers: [a@example.com]}
strategy:
  type: aws_lambda
  function_arn: arn:aws:lambda:eu-west-1:123456789012:function:latch-mysql
  targets: [{id: orders-ro, settings: {database: orders}}]
`
	f, err := flows.Parse("db.yaml", []byte(lambdaFlow), strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flows.Parse("db.yaml", []byte(strings.Replace(lambdaFlow, "arn:aws:lambda:eu-west-1:123456789012:function:", "", 1)), strategies.FlowOptions()); err == nil ||
		!strings.Contains(err.Error(), "function_arn") {
		t.Errorf("a function name in place of its ARN: %v, want an error naming function_arn", err)
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	esc, err := (&strategies.Escalators{}).For(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := esc.(latch.OutputGranter); !ok {
		t.Errorf("the aws_lambda escalator %T does not hand back the function's body", esc)
	}
}

// Every type this package links is one strategy.Known names, and the other
// way round: a function that links some types loads the flows of all.
func TestKnownIsEveryType(t *testing.T) {
	if got, want := strategy.Known(), strategies.Types(); !slices.Equal(got, want) {
		t.Errorf("strategy.Known() = %v, the types of package strategies are %v", got, want)
	}
}

// A Set of one type (an escalator function's) loads the flows of every
// known type, checks the settings of its own only, builds only its own
// escalators, and refuses a type Latch does not know when flows load.
func TestSetOfOneType(t *testing.T) {
	set := strategy.Set{webhook.Strategy}
	if !set.Has("webhook") || set.Has("aws_iam") {
		t.Fatalf("Has: webhook %v, aws_iam %v", set.Has("webhook"), set.Has("aws_iam"))
	}
	f, err := flows.Parse("iam.yaml", []byte(strings.Replace(iamFlow, "group: prod-admins", "group: arn:aws:iam::1:group/x", 1)), set.FlowOptions())
	if err != nil {
		t.Fatalf("a flow of a known type it does not link: %v, want it loaded (cdk synth checked it)", err)
	}
	if _, err := set.Escalators(nil)(f); err == nil || !strings.Contains(err.Error(), `strategy "aws_iam" is not available`) {
		t.Errorf("the escalator of a type it does not link: %v", err)
	}
	if _, err := flows.Parse("f.yaml", []byte(strings.Replace(flow, "http://127.0.0.1:9/hook", "not a url", 1)), set.FlowOptions()); err == nil {
		t.Errorf("a bad webhook url passed its own type's check")
	}
	_, err = flows.Parse("f.yaml", []byte(strings.Replace(flow, "type: webhook", "type: webhok", 1)), set.FlowOptions())
	if err == nil || !strings.Contains(err.Error(), `strategy type "webhok" is not known`) {
		t.Errorf("an unknown type: %v, want it refused at load", err)
	}
}
