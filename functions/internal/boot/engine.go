package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/hooks"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/oncall"
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
// reconciler): grants run on Step Functions, and so do scheduled starts
// (sfngrants.Starts); expiries (and late starts) are swept from the
// store (Expiries.Sweep needs LATCH_EVENTS_QUEUE_URL), people are told in
// Slack when a bot token is configured, and flows' hooks are called.
type Core struct {
	Engine   *engine.Engine
	Runner   *sfngrants.Runner
	Expiries *reconcile.Expiries
	Slack    *Slack // nil when no bot token is configured (Parts.Slack)
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
			// A grant is escalated and revoked with what it recorded, never
			// depending on the flow file: its recorded strategy names the
			// function (latch.RevokeTarget).
			cur, _ := p.Flows.Get(g.Flow)
			f, ok := g.RevokeFlow(cur)
			if !ok {
				return "", fmt.Errorf("flow %q is not loaded and grant %s recorded no strategy", g.Flow, g.ID)
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
		Scheduler: &sfngrants.Starts{SFN: env.SFN(), StateMachineARN: machine, Next: c.Expiries}, Hooks: hooks.New(lookup, nil), OnCall: (&oncall.Sources{LookupEnv: lookup}).For}
	if c.Slack = p.Slack(false); c.Slack != nil {
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

// SlackOff is the value of SLACK_BOT_TOKEN that turns Slack off for good:
// a deployment without Slack, whose notifications are dropped. Any other
// value that is not a bot token (the placeholder) means "not configured
// yet": notifications wait in the outbox.
const SlackOff = "off"

// Slack is the Slack app of a function, built again whenever the bot token
// (and, for the Slack function, the signing secret) changes. Until the
// token is set, every use is ErrNotConfigured, a transient error: a
// notification stays in the outbox and is sent once Slack is configured.
type Slack struct {
	// Engine is given to every app built.
	Engine *engine.Engine

	// Invoker hands the work after an answer to the function itself
	// (LATCH_SLACK_DEFER=invoke); the Slack function sets it.
	Invoker Invoker

	p    *Parts
	live Live[slackState]
}

type slackState struct {
	app *slackapp.App // nil when off or not configured
	off bool
}

var _ latch.Notifier = (*Slack)(nil)

// Slack returns the function's Slack app, or nil when none of
// SLACK_BOT_TOKEN, SLACK_BOT_TOKEN_ARN and LATCH_APP_SECRETS_ARN is set
// (Slack is not part of this function's wiring). With signed, the app verifies Slack's requests
// with SLACK_SIGNING_SECRET.
func (p *Parts) Slack(signed bool) *Slack {
	if p.Env.Get("SLACK_BOT_TOKEN") == "" && p.Env.Get("SLACK_BOT_TOKEN_ARN") == "" && p.Env.Get(appSecretsVar) == "" {
		return nil
	}
	s := &Slack{p: p}
	s.live = Live[slackState]{Env: p.Env, Secrets: []string{"SLACK_BOT_TOKEN"}, Build: func(ctx context.Context) (slackState, error) {
		return s.build(ctx, signed)
	}}
	if signed {
		s.live.Secrets = append(s.live.Secrets, "SLACK_SIGNING_SECRET")
	}
	return s
}

func (s *Slack) build(ctx context.Context, signed bool) (slackState, error) {
	env := s.p.Env
	token, err := env.Secret(ctx, "SLACK_BOT_TOKEN")
	if err != nil {
		return slackState{}, err
	}
	if token == SlackOff {
		env.Log.InfoContext(ctx, "SLACK_BOT_TOKEN is \"off\": Slack is off, and notifications are dropped")
		return slackState{off: true}, nil
	}
	if !strings.HasPrefix(token, "xoxb-") {
		// The secret still holds the placeholder the deployment created.
		env.Log.WarnContext(ctx, "SLACK_BOT_TOKEN is not a bot token (xoxb-...) yet: notifications wait in the outbox until it is set (docs/aws.md, Secrets)")
		return slackState{}, nil
	}
	app := slackapp.NewApp(env.Get, token)
	app.Store, app.Log, app.Engine = s.p.Store, env.Log, s.Engine
	app.After = slackapp.RunNow // a Lambda freezes once it has answered: nothing may be left running
	if signed {
		secret, err := env.Secret(ctx, "SLACK_SIGNING_SECRET")
		if err != nil {
			return slackState{}, err
		}
		if !Configured(secret) {
			env.Log.WarnContext(ctx, "SLACK_SIGNING_SECRET is not set yet: Slack's requests cannot be verified and are refused (docs/aws.md, Secrets)")
			return slackState{}, nil
		}
		app.SigningSecret = []byte(secret)
		// The work after an answer goes to the function itself, so the
		// answer need not wait for it (slackjobs.go); RunNow stays for
		// when that fails.
		if app.Defer, err = s.deferToSelf(app); err != nil {
			return slackState{}, err
		}
	}
	if s.p.Queue != nil { // approvals has none: there the app only notifies
		app.Queue, app.Submit = s.p.Queue, s.p.Queue.PublishCreate
	}
	return slackState{app: app}, nil
}

// App returns the current app; nil, nil when Slack is off; and an error
// wrapping ErrNotConfigured while the token (or the signing secret) is not
// set.
func (s *Slack) App(ctx context.Context) (*slackapp.App, error) {
	st, err := s.live.Get(ctx)
	switch {
	case err != nil:
		return nil, fmt.Errorf("slack: %w", err)
	case st.off:
		return nil, nil
	case st.app == nil:
		return nil, fmt.Errorf("slack: %w", ErrNotConfigured)
	}
	if st.app.Engine == nil {
		st.app.Engine = s.Engine
	}
	return st.app, nil
}

// Notify tells people in Slack. While Slack is not configured it returns
// ErrNotConfigured, so the engine keeps the notification in the outbox.
func (s *Slack) Notify(ctx context.Context, event latch.AuditType, r latch.Request) error {
	app, err := s.App(ctx)
	if err != nil || app == nil {
		return err
	}
	return app.Notify(ctx, event, r)
}

// TellRefused tells a requester why a request was refused, when Slack is
// configured.
func (s *Slack) TellRefused(ctx context.Context, flowName, email string, refusal error) error {
	app, err := s.App(ctx)
	if err != nil || app == nil {
		return err
	}
	return app.TellRefused(ctx, flowName, email, refusal)
}

// Handler serves Slack's requests with the current app. While Slack is not
// configured (or is off) it answers 503, which Slack retries.
func (s *Slack) Handler() http.Handler {
	var mu sync.Mutex
	var last *slackapp.App
	var h http.Handler
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app, err := s.App(r.Context())
		if err != nil || app == nil {
			if err == nil {
				err = errors.New("slack is off (SLACK_BOT_TOKEN is \"off\")")
			}
			s.p.Env.Log.WarnContext(r.Context(), "a Slack request is refused", "err", err)
			http.Error(w, "Slack is not configured on this Latch deployment yet", http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		if app != last {
			last, h = app, app.Handler()
		}
		handler := h
		mu.Unlock()
		handler.ServeHTTP(w, r)
	})
}
