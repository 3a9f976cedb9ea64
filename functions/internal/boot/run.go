package boot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/hooks"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sfngrants"
)

// Must ends the function's start with a logged error: Lambda reports the
// failed start (Runtime.ExitError) and retries it.
func Must(env *Env, err error) {
	if err == nil {
		return
	}
	if env != nil && env.Log != nil {
		env.Log.Error("the function could not start", "err", err)
	} else {
		fmt.Fprintln(os.Stderr, "latch: the function could not start:", err)
	}
	os.Exit(1)
}

// gcPercent is the functions' GC target (GOGC) when the environment sets
// none: a start allocates a few MiB (the AWS SDK's configuration, the
// flows) that live on, so Go's default of 100 collects several times for
// little; 200 halves that, and the heap stays small beside a function's
// memory (docs/benchmarks.md).
const gcPercent = 200

// Start loads the configuration and ends the function's start when it
// cannot. It sets the GC target to gcPercent unless GOGC is set.
func Start(ctx context.Context) *Env {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	env, err := Load(ctx)
	Must(env, err)
	return env
}

// StartParts is Start, and the flows (their rules compiled with rules: nil
// in a function that evaluates none, see Env.Rules), store, users and queue
// loaded.
func StartParts(ctx context.Context, rules flows.RuleCompiler) (*Env, *Parts) {
	env := Start(ctx)
	env.Rules = rules
	parts, err := env.Parts(ctx)
	Must(env, err)
	return env, parts
}

// Escalator is the task handler of a strategy's escalator function: it
// escalates and revokes grants of flows of that strategy, finding each
// grantee's identity on the way. Its secrets (a flow's secret_env) come
// from the environment or the strategy's and the hooks' JSON secrets. The
// flows' identity rules are compiled with env.Rules, which the escalator
// functions set.
func Escalator(ctx context.Context, env *Env, strategy string) (*sfngrants.TaskHandler, error) {
	if env.Strategies == nil {
		return nil, errors.New("the escalator function sets no strategy registry (Env.Strategies)")
	}
	if !env.Strategies.Has(strategy) {
		return nil, fmt.Errorf("strategy %q is not in this build", strategy)
	}
	if s := env.Get("LATCH_STRATEGY"); s != "" && s != strategy {
		return nil, fmt.Errorf("LATCH_STRATEGY is %q but this is the %s escalator", s, strategy)
	}
	loaded, err := env.Flows()
	if err != nil {
		return nil, err
	}
	store, err := env.Store()
	if err != nil {
		return nil, err
	}
	lookup, err := env.LookupEnv(ctx, "LATCH_STRATEGY_SECRETS_ARN", "LATCH_HOOKS_SECRETS_ARN")
	if err != nil {
		return nil, err
	}
	reports, err := env.Queue()
	if err != nil {
		return nil, err
	}
	forFlow := liveEscalators(env, lookup)
	flowSet := engine.NewFlowSet(loaded)
	resolver := &identity.Resolver{Store: store, Hooks: hooks.New(lookup, nil), Escalator: forFlow, Clock: latch.SystemClock, Log: env.Log}
	return &sfngrants.TaskHandler{Store: store, Flows: flowSet, Log: env.Log, Identity: resolver.Resolve, Held: store,
		Reports: reports, Tokens: store,
		Escalator: func(f *latch.Flow) (latch.Escalator, error) {
			if f.Strategy == nil || f.Strategy.Type != strategy {
				return nil, fmt.Errorf("flow %q is not of the %s strategy this function escalates", f.Name, strategy)
			}
			return forFlow(f)
		}}, nil
}

// Escalators returns the escalator of each flow (env.Strategies must be
// set), for the reconciler's drift
// checks: the secrets flows name (an okta flow's token_env, a webhook's
// secret_env) come from the environment or the integrations secret
// (LATCH_STRATEGY_SECRETS_ARN, LATCH_HOOKS_SECRETS_ARN, whichever are set),
// and the escalators are built again when it is rotated.
func Escalators(ctx context.Context, env *Env) (func(*latch.Flow) (latch.Escalator, error), error) {
	lookup, err := env.LookupEnv(ctx, "LATCH_STRATEGY_SECRETS_ARN", "LATCH_HOOKS_SECRETS_ARN")
	if err != nil {
		return nil, err
	}
	return liveEscalators(env, lookup), nil
}

// liveEscalators returns the escalator of a flow. The escalators read their
// secrets when built (a webhook's signing key), so they are built again
// when the strategy's or the hooks' secret is rotated: a warm escalator
// function signs with the new key within the secrets' TTL.
func liveEscalators(env *Env, lookup func(string) (string, bool)) func(*latch.Flow) (latch.Escalator, error) {
	escs := &Live[func(*latch.Flow) (latch.Escalator, error)]{Env: env, Secrets: []string{"LATCH_STRATEGY_SECRETS_ARN", "LATCH_HOOKS_SECRETS_ARN"},
		Build: func(context.Context) (func(*latch.Flow) (latch.Escalator, error), error) {
			if env.Strategies == nil {
				return nil, errors.New("this function sets no strategy registry (Env.Strategies)")
			}
			return env.Strategies.Escalators(lookup), nil
		}}
	return func(f *latch.Flow) (latch.Escalator, error) {
		forFlow, err := escs.Get(context.Background())
		if err != nil {
			return nil, err
		}
		return forFlow(f)
	}
}
