package tailscale_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/escalator/tailscale"
	"github.com/latchhq/latch/pkg/escalator/tailscale/tsfake"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies"
)

// TestTailscaleEntry: the example flow loads with the registry's checks;
// the escalator is built with the secret the flow names, can check, validate
// and look up identities; and flows load with their groups checked against
// the policy file (a missing group is a permanent problem naming it).
func TestTailscaleEntry(t *testing.T) {
	f, err := flows.LoadFile("../../../flows/examples/tailscale.yaml", strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	if f.Strategy == nil || f.Strategy.Type != tailscale.Type || len(f.Strategy.Targets) != 2 {
		t.Fatalf("strategy = %+v, want tailscale with two targets", f.Strategy)
	}
	if s, ok := strategies.Get(tailscale.Type); !ok || !s.Validates || s.Timeout != tailscale.Timeout {
		t.Errorf("registry entry = %+v, %v", s, ok)
	}
	if _, err := (&strategies.Escalators{}).For(f); err == nil || !strings.Contains(err.Error(), "LATCH_TAILSCALE_OAUTH_SECRET") {
		t.Errorf("built without its secret: %v, want an error naming the variable", err)
	}

	fake := tsfake.New("example.com", []byte(`{"groups": {"group:prod-ssh": []}}`), "tskey-api-k1-x")
	url := tsfake.Serve(t, fake)
	src := `name: ts
approval: {approvers: [a@example.com]}
strategy:
  type: tailscale
  tailnet: example.com
  token_env: TS_TOKEN
  api_url: ` + url + `
  targets:
    - {id: ssh, settings: {group: prod-ssh}}
    - {id: gone, settings: {group: break-glass}}
`
	g, err := flows.Parse("ts.yaml", []byte(src), strategies.FlowOptions())
	if err != nil {
		t.Fatal(err)
	}
	escs := &strategies.Escalators{LookupEnv: func(k string) (string, bool) { return "tskey-api-k1-x", k == "TS_TOKEN" }}
	esc, err := escs.For(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := esc.(latch.Checker); !ok {
		t.Errorf("%T is not a Checker", esc)
	}
	if _, ok := esc.(latch.IdentityLookup); !ok {
		t.Errorf("%T is not an IdentityLookup", esc)
	}
	err = strategies.ValidateTargets(context.Background(), []*latch.Flow{g}, escs.For)
	var p strategies.TargetProblem
	if !errors.As(err, &p) || p.Target != "gone" || !latch.IsPermanent(err) || !strings.Contains(err.Error(), "group:break-glass") {
		t.Errorf("ValidateTargets = %v, want one permanent problem: target gone has no group", err)
	}
}
