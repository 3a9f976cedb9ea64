// Package strategies is the registry of strategy types: for each, how a
// flow's strategy settings are checked when flows load (in latch server, at
// `latch flows validate` and at `cdk synth`), and how its escalator is built
// (in latch server, and in the strategy's escalator function on AWS). A new
// strategy (AWS IAM, Identity Center, Okta, GitHub, Tailscale, a customer
// Lambda) is one entry here and one package under pkg/escalator.
package strategies

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/escalator/awsiam"
	"github.com/latchhq/latch/pkg/escalator/awslambda"
	"github.com/latchhq/latch/pkg/escalator/awssso"
	"github.com/latchhq/latch/pkg/escalator/github"
	"github.com/latchhq/latch/pkg/escalator/okta"
	"github.com/latchhq/latch/pkg/escalator/tailscale"
	"github.com/latchhq/latch/pkg/escalator/webhook"
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

var builtin = []Strategy{
	{Type: webhook.Type, Validate: webhook.ValidateConfig, Timeout: webhook.MaxTimeout,
		New: func(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client) (latch.Escalator, error) {
			return webhook.New(config, lookupEnv, client)
		}},
	{Type: awssso.Type, Validate: awssso.ValidateConfig, Timeout: awssso.MaxTimeout, Validates: true,
		New: func(config map[string]any, _ func(string) (string, bool), _ *http.Client) (latch.Escalator, error) {
			return awssso.New(context.Background(), config) // the SDK's own HTTP client (AWS_CA_BUNDLE)
		}},
	// aws_iam calls AWS with the SDK's own client (it honours AWS_CA_BUNDLE).
	{Type: awsiam.Type, Validate: awsiam.ValidateConfig, Timeout: awsiam.Timeout, Validates: true,
		New: func(config map[string]any, _ func(string) (string, bool), _ *http.Client) (latch.Escalator, error) {
			return awsiam.New(context.Background(), config)
		}},
	{Type: awslambda.Type, Validate: awslambda.ValidateConfig, Timeout: awslambda.Timeout,
		New: func(config map[string]any, _ func(string) (string, bool), _ *http.Client) (latch.Escalator, error) {
			return awslambda.New(context.Background(), config) // AWS clients keep the SDK's own HTTP client
		}},
	{Type: tailscale.Type, Validate: tailscale.ValidateConfig, Timeout: tailscale.Timeout, Validates: true,
		New: func(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client) (latch.Escalator, error) {
			return tailscale.New(config, lookupEnv, client)
		}},
	{Type: github.Type, Validate: github.ValidateConfig, Timeout: github.Timeout, Validates: true,
		New: func(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client) (latch.Escalator, error) {
			return github.New(config, lookupEnv, client)
		}},
	// okta reads its API token (or service app key) with lookupEnv: on AWS,
	// from the integrations secret.
	{Type: okta.Type, Validate: okta.ValidateConfig, Timeout: okta.Timeout, Validates: true,
		New: func(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client) (latch.Escalator, error) {
			return okta.New(config, lookupEnv, client)
		}},
}

// Types lists the strategy types of this build, sorted.
func Types() []string {
	out := make([]string, len(builtin))
	for i, s := range builtin {
		out[i] = s.Type
	}
	slices.Sort(out)
	return out
}

// Get returns the strategy of a type.
func Get(typ string) (Strategy, bool) {
	i := slices.IndexFunc(builtin, func(s Strategy) bool { return s.Type == typ })
	if i < 0 {
		return Strategy{}, false
	}
	return builtin[i], true
}

// FlowOptions makes the flow loader accept the given strategy types (every
// type of this build when none is given) and check their settings.
func FlowOptions(types ...string) flows.Options {
	if len(types) == 0 {
		types = Types()
	}
	m := map[string]func(map[string]any, []latch.Target) error{}
	for _, t := range types {
		if s, ok := Get(t); ok {
			m[t] = s.Validate
		}
	}
	return flows.Options{Strategies: m}
}

// Escalators builds each flow's escalator once and hands it out. It is safe
// for concurrent use.
type Escalators struct {
	// LookupEnv finds the secrets flows name; nil is os.LookupEnv's
	// absence: every lookup fails.
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
	s, ok := Get(f.Strategy.Type)
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
