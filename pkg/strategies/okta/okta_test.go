package okta_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/escalator/okta"
	"github.com/latchhq/latch/pkg/escalator/okta/oktafake"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies"
)

// TestOktaExampleFlow loads the okta example flow with the registry's
// checks, so that the example stays one Latch accepts, and builds its
// escalator from the token the flow names.
func TestOktaExampleFlow(t *testing.T) {
	f, err := flows.LoadFile("../../../flows/examples/okta.yaml", strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	if f.Strategy == nil || f.Strategy.Type != okta.Type || len(f.Strategy.Targets) != 2 {
		t.Fatalf("strategy = %+v, want okta with two targets", f.Strategy)
	}
	if _, err := flows.LoadFile("../../../flows/examples/okta.yaml", strategies.FlowOptions("webhook")); err == nil {
		t.Error("a deployment without okta loaded the flow")
	}
	s, ok := strategies.Get(okta.Type)
	if !ok || s.Timeout != okta.Timeout || !s.Validates {
		t.Errorf("registry entry = %+v, %v; want okta's timeout and Validates", s, ok)
	}
	if _, err := (&strategies.Escalators{}).For(f); err == nil || !strings.Contains(err.Error(), "OKTA_API_TOKEN") {
		t.Errorf("a missing token: %v, want an error naming OKTA_API_TOKEN", err)
	}
	esc, err := (&strategies.Escalators{LookupEnv: func(k string) (string, bool) { return "tok", k == "OKTA_API_TOKEN" }}).For(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := esc.(latch.Checker); !ok {
		t.Error("the okta escalator cannot check: revokes would not be verified, nor drift found")
	}
}

// TestOktaTargetsAreValidated: flows load with okta's check of each
// target's group (an app group is refused, with its type).
func TestOktaTargetsAreValidated(t *testing.T) {
	fake := oktafake.New("tok")
	fake.AddGroup(oktafake.Group{ID: "00g1emaKYZTWRYYRRTSK", Name: "prod-admins"})
	fake.AddGroup(oktafake.Group{ID: "00g2billingREADERS01", Type: "APP_GROUP", Name: "Billing (AD)"})
	url := oktafake.Serve(t, fake)
	f, err := flows.LoadFile("../../../flows/examples/okta.yaml", strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	f.Strategy.Config["org_url"] = url
	esc := &strategies.Escalators{LookupEnv: func(k string) (string, bool) { return "tok", k == "OKTA_API_TOKEN" }}
	wrong, unchecked := strategies.Problems(strategies.ValidateTargets(context.Background(), []*latch.Flow{f}, esc.For))
	if len(wrong) != 1 || len(unchecked) != 0 || !strings.Contains(wrong[0].Error(), "APP_GROUP") {
		t.Errorf("problems %v / %v, want the APP_GROUP target alone", wrong, unchecked)
	}
}
