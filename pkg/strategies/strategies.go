// Package strategies is every strategy type of Latch: for each, how a
// flow's strategy settings are checked when flows load (in latch server, at
// `latch flows validate` and at `cdk synth`), and how its escalator is built
// (in latch server). Each type is its own package (pkg/strategies/webhook,
// pkg/strategies/awsiam, ...; their shared types in pkg/strategies/strategy),
// so that a Lambda function links only the types it escalates with (each
// escalator function its own). A new strategy (AWS IAM, Identity Center,
// Okta, GitHub, Tailscale, a customer Lambda) is one package here, one
// under pkg/escalator, and its name in strategy.Known.
package strategies

import (
	"net/http"
	"sync"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies/awsiam"
	"github.com/latchhq/latch/pkg/strategies/awslambda"
	"github.com/latchhq/latch/pkg/strategies/awssso"
	"github.com/latchhq/latch/pkg/strategies/github"
	"github.com/latchhq/latch/pkg/strategies/okta"
	"github.com/latchhq/latch/pkg/strategies/strategy"
	"github.com/latchhq/latch/pkg/strategies/tailscale"
	"github.com/latchhq/latch/pkg/strategies/webhook"
)

// Strategy is one strategy type.
type Strategy = strategy.Strategy

var builtin = strategy.Set{webhook.Strategy, awssso.Strategy, awsiam.Strategy, awslambda.Strategy,
	tailscale.Strategy, github.Strategy, okta.Strategy}

// All is every strategy type, as a Set (a program's wiring takes one).
func All() strategy.Set { return append(strategy.Set(nil), builtin...) }

// Types lists the strategy types of this build, sorted.
func Types() []string { return builtin.Types() }

// Get returns the strategy of a type.
func Get(typ string) (Strategy, bool) { return builtin.Get(typ) }

// FlowOptions makes the flow loader accept the given strategy types (every
// type when none is given) and check their settings.
func FlowOptions(types ...string) flows.Options { return builtin.FlowOptions(types...) }

// Escalators builds each flow's escalator once, of every strategy type,
// and hands it out. It is safe for concurrent use.
type Escalators struct {
	// LookupEnv finds the secrets flows name; nil: every lookup fails.
	LookupEnv func(string) (string, bool)
	// HTTP is the client escalators call out with; nil: one shared client
	// with a 30-second timeout that reuses connections (outbound.NewClient).
	HTTP *http.Client

	once sync.Once
	all  *strategy.Escalators
}

// For returns the escalator of f's strategy, building it on first use.
func (e *Escalators) For(f *latch.Flow) (latch.Escalator, error) {
	e.once.Do(func() { e.all = &strategy.Escalators{Set: builtin, LookupEnv: e.LookupEnv, HTTP: e.HTTP} })
	return e.all.For(f)
}
