package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/hooks"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
	"github.com/latchhq/latch/pkg/sfngrants"
	"github.com/latchhq/latch/pkg/slackapp"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

// Parts are the adapters a function builds its engine from.
type Parts struct {
	Env       *Env
	Store     *dynamostore.Store
	Flows     *engine.FlowSet
	Directory *identity.Directory
	Users     *engine.Users
	Queue     *sqsqueue.Publisher
}

// Parts loads the flows, the store, the user directory and the queue.
func (e *Env) Parts(ctx context.Context) (*Parts, error) {
	loaded, err := e.Flows()
	if err != nil {
		return nil, err
	}
	store, err := e.Store()
	if err != nil {
		return nil, err
	}
	dir, err := e.Directory(ctx, store)
	if err != nil {
		return nil, err
	}
	p := &Parts{Env: e, Store: store, Flows: engine.NewFlowSet(loaded), Directory: dir, Users: Users(store, dir)}
	if e.Get("LATCH_EVENTS_QUEUE_URL") != "" {
		if p.Queue, err = e.Queue(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// edgeRunner is the grant runner of the edges (the Slack and API
// functions): they check requests and commands and hand them to the queue,
// and never commit a change that starts a grant, so asking them to run one
// is a wiring mistake and says so.
type edgeRunner struct{}

var errEdge = errors.New("grants are run by the approvals function, not by this one")

func (edgeRunner) Escalate(context.Context, string) error             { return errEdge }
func (edgeRunner) Deescalate(context.Context, string) error           { return errEdge }
func (edgeRunner) Wake(context.Context, string, time.Time) error      { return errEdge }
func (edgeRunner) At(context.Context, time.Time, latch.Command) error { return errEdge }

// EdgeEngine is the engine of the Slack and API functions: it checks
// (Engine.Check, Engine.Prepare) and reads; commands and new requests go
// to the queue.
func (p *Parts) EdgeEngine() (*engine.Engine, error) {
	return engine.New(engine.Config{Store: p.Store, Flows: p.Flows, Users: p.Users, Log: p.Env.Log,
		Runner: edgeRunner{}, Scheduler: edgeRunner{}})
}

// Core is the engine of the functions that change request state (approvals,
// reconciler): grants run on Step Functions, expiries are swept from the
// store (Expiries.Sweep needs LATCH_EVENTS_QUEUE_URL), people are told in
// Slack when a bot token is configured, and flows' hooks are called.
type Core struct {
	Engine   *engine.Engine
	Runner   *sfngrants.Runner
	Expiries *reconcile.Expiries
	Slack    *slackapp.App // nil without SLACK_BOT_TOKEN
}

// Core builds the core engine.
func (p *Parts) Core(ctx context.Context) (*Core, error) {
	env := p.Env
	machine, err := env.Need("LATCH_STATE_MACHINE_ARN")
	if err != nil {
		return nil, err
	}
	escalators := map[string]string{}
	if err := json.Unmarshal([]byte(env.Get("LATCH_ESCALATOR_ARNS")), &escalators); err != nil {
		return nil, fmt.Errorf("LATCH_ESCALATOR_ARNS is not a JSON object of strategy → function ARN: %w", err)
	}
	runner, err := sfngrants.NewRunner(sfngrants.RunnerConfig{SFN: env.SFN(), StateMachineARN: machine, Grants: p.Store, Tokens: p.Store,
		Escalator: func(_ context.Context, g latch.Grant) (string, error) {
			f, err := p.Flows.Get(g.Flow)
			if err != nil {
				return "", err
			}
			if f.Strategy == nil {
				return "", fmt.Errorf("flow %q has no strategy", f.Name)
			}
			arn, ok := escalators[f.Strategy.Type]
			if !ok {
				return "", fmt.Errorf("no escalator function for strategy %q (LATCH_ESCALATOR_ARNS)", f.Strategy.Type)
			}
			return arn, nil
		}})
	if err != nil {
		return nil, err
	}
	lookup, err := env.LookupEnv(ctx, "LATCH_HOOKS_SECRETS_ARN")
	if err != nil {
		return nil, err
	}
	c := &Core{Runner: runner, Expiries: &reconcile.Expiries{Store: p.Store}}
	if p.Queue != nil { // the reconciler sweeps expiries to the queue; approvals only accepts them
		c.Expiries.Queue = p.Queue
	}
	cfg := engine.Config{Store: p.Store, Flows: p.Flows, Users: p.Users, Log: env.Log, Runner: runner,
		Scheduler: c.Expiries, Hooks: hooks.New(lookup, nil)}
	if c.Slack, err = p.SlackApp(ctx, false); err != nil {
		return nil, err
	}
	if c.Slack != nil {
		cfg.Notifier = c.Slack
	}
	if c.Engine, err = engine.New(cfg); err != nil {
		return nil, err
	}
	if c.Slack != nil {
		c.Slack.Engine = c.Engine
	}
	return c, nil
}

// SlackApp builds the Slack app from SLACK_BOT_TOKEN (and, when signed is
// set, SLACK_SIGNING_SECRET), or returns nil when there is no bot token.
// Engine is left for the caller to set.
func (p *Parts) SlackApp(ctx context.Context, signed bool) (*slackapp.App, error) {
	token, err := p.Env.Secret(ctx, "SLACK_BOT_TOKEN")
	if err != nil || token == "" {
		return nil, err
	}
	if !strings.HasPrefix(token, "xoxb-") {
		// The secret still holds the placeholder the deployment created:
		// Slack is not set up yet, so nothing is posted (and nothing fails).
		p.Env.Log.WarnContext(ctx, "SLACK_BOT_TOKEN is not a bot token (xoxb-...): Slack is off until it is set (docs/aws.md, Deploy)")
		return nil, nil
	}
	app := slackapp.NewApp(p.Env.Get, token)
	app.Store, app.Log = p.Store, p.Env.Log
	app.After = slackapp.RunNow // a Lambda freezes once it has answered: nothing may be left running
	if signed {
		secret, err := p.Env.Secret(ctx, "SLACK_SIGNING_SECRET")
		if err != nil {
			return nil, err
		}
		if secret == "" {
			return nil, errors.New("SLACK_SIGNING_SECRET (or SLACK_SIGNING_SECRET_ARN) is not set: Slack's requests cannot be verified")
		}
		app.SigningSecret = []byte(secret)
	}
	if p.Queue != nil { // approvals has none: there the app only notifies
		app.Queue, app.Submit = p.Queue, p.Queue.PublishCreate
	}
	return app, nil
}
