package awssso_test

import (
	"testing"

	"github.com/latchhq/latch/pkg/escalator/awssso"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/strategies"
)

// TestAWSSSOExampleFlow loads the aws_sso example flow with the registry's
// checks, so that the example stays one Latch accepts.
func TestAWSSSOExampleFlow(t *testing.T) {
	f, err := flows.LoadFile("../../../flows/examples/aws-sso.yaml", strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	if f.Strategy == nil || f.Strategy.Type != awssso.Type || len(f.Strategy.Targets) != 2 {
		t.Fatalf("strategy = %+v, want aws_sso with two targets", f.Strategy)
	}
	if err := awssso.ValidateConfig(f.Strategy.Config, f.Strategy.Targets); err != nil {
		t.Fatal(err)
	}
	if _, err := flows.LoadFile("../../../flows/examples/aws-sso.yaml", strategies.FlowOptions("webhook")); err == nil {
		t.Error("a deployment without aws_sso loaded the flow")
	}
	if s, ok := strategies.Get(awssso.Type); !ok || s.Timeout != awssso.MaxTimeout {
		t.Errorf("registry entry = %+v, %v", s, ok)
	}
}
