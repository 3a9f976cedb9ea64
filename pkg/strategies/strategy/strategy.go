// Package strategy is what every strategy type shares: the Strategy entry
// (how a flow's strategy settings are checked and its escalator built), a
// Set of them as a program links them, and Escalators, which builds each
// flow's escalator once. It links no strategy and no target's client: each
// type is its own package under pkg/strategies (pkg/strategies/webhook,
// pkg/strategies/awsiam, ...), and a program links only the types it
// escalates with. Package strategies is every type (latch server, `latch
// flows validate`, cdk synth).
package strategy

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

// Strategy is one strategy type.
type Strategy struct {
	Type string
	// Validate checks a flow's strategy settings: its config (every key of
	// the strategy block but type and targets) and its targets.
	Validate func(config map[string]any, targets []latch.Target) error
	// New builds the escalator of one flow's settings. lookupEnv finds the
	// secrets the settings name (e.g. secret_env).
	New func(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client) (latch.Escalator, error)
	// Timeout bounds one Grant or Revoke call, for the functions that run
	// them.
	Timeout time.Duration
	// Validates is set when the strategy's escalator is a latch.Validator
	// (it can ask the target system whether a target exists): flows load
	// with that check (ValidateTargets) unless offline.
	Validates bool
}

// known is every strategy type of Latch, sorted. Package strategies links
// them all, and its tests check that this list is theirs.
var known = []string{"aws_iam", "aws_lambda", "aws_sso", "github", "okta", "tailscale", "webhook"}

// Known lists every strategy type of Latch, sorted, whether a program links
// it or not.
func Known() []string { return slices.Clone(known) }

// Set is the strategies a program links: it builds the escalators of these
// types only. Flows of the other known types still load (their settings
// are not checked again: cdk synth checked them); a flow of a type Latch
// does not know is refused when flows load.
type Set []Strategy

// Get returns the strategy of a type, if linked.
func (s Set) Get(typ string) (Strategy, bool) {
	i := slices.IndexFunc(s, func(st Strategy) bool { return st.Type == typ })
	if i < 0 {
		return Strategy{}, false
	}
	return s[i], true
}

// Has reports whether typ is linked.
func (s Set) Has(typ string) bool {
	_, ok := s.Get(typ)
	return ok
}

// Types lists the linked types, sorted.
func (s Set) Types() []string {
	out := make([]string, len(s))
	for i, st := range s {
		out[i] = st.Type
	}
	slices.Sort(out)
	return out
}

// FlowOptions makes the flow loader accept the given strategy types (every
// known type when none is given), and check the settings of the linked
// ones. A type Latch does not know is refused.
func (s Set) FlowOptions(types ...string) flows.Options {
	if len(types) == 0 {
		types = known
	}
	m := map[string]func(map[string]any, []latch.Target) error{}
	for _, t := range types {
		if st, ok := s.Get(t); ok {
			m[t] = st.Validate
		} else if slices.Contains(known, t) {
			m[t] = nil // known, not linked: accepted unchecked
		}
	}
	return flows.Options{Strategies: m}
}

// Escalators returns the escalator of each flow, built on first use with
// the secrets lookupEnv finds (Escalators.For).
func (s Set) Escalators(lookupEnv func(string) (string, bool)) func(*latch.Flow) (latch.Escalator, error) {
	return (&Escalators{Set: s, LookupEnv: lookupEnv}).For
}

// Escalators builds each flow's escalator once and hands it out. It is safe
// for concurrent use.
type Escalators struct {
	// Set is the strategies it builds escalators of.
	Set Set
	// LookupEnv finds the secrets flows name; nil: every lookup fails.
	LookupEnv func(string) (string, bool)
	// HTTP is the client escalators call out with; nil: one shared client
	// with a 30-second timeout that reuses connections (outbound.NewClient).
	HTTP *http.Client

	mu     sync.Mutex
	byFlow map[string]latch.Escalator
}

// For returns the escalator of f's strategy, building it on first use.
func (e *Escalators) For(f *latch.Flow) (latch.Escalator, error) {
	if f.Strategy == nil {
		return nil, fmt.Errorf("flow %q is approval-only: it has no strategy", f.Name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if esc, ok := e.byFlow[f.Name]; ok {
		return esc, nil
	}
	s, ok := e.Set.Get(f.Strategy.Type)
	if !ok {
		return nil, fmt.Errorf("flow %q (%s): strategy %q is not available in this build", f.Name, f.File, f.Strategy.Type)
	}
	lookup, client := e.LookupEnv, e.HTTP
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	if client == nil {
		client = defaultHTTP()
	}
	esc, err := s.New(f.Strategy.Config, lookup, client)
	if err != nil {
		return nil, fmt.Errorf("flow %q (%s): %w", f.Name, f.File, err)
	}
	if e.byFlow == nil {
		e.byFlow = map[string]latch.Escalator{}
	}
	e.byFlow[f.Name] = esc
	return esc, nil
}

// defaultHTTP is the client of Escalators given none, shared so that
// connections to a target are reused across flows and calls.
var defaultHTTP = sync.OnceValue(func() *http.Client { return outbound.NewClient(30 * time.Second) })
