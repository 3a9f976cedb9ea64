// Package boot is the wiring the Lambda functions share: reading their
// configuration from the environment (and Secrets Manager), and building
// the adapters from it. It holds no logic of Latch's own; that lives in
// pkg/.
//
// The environment the CDK app sets (infra/functions.go):
//
//	LATCH_TABLE                 the DynamoDB table
//	LATCH_FLOWS_DIR             the flow files (the flows layer)
//	LATCH_DOMAINS               the organisation's email domains, comma-separated
//	LATCH_LOG_LEVEL             debug, info, warn, error
//	LATCH_EVENTS_QUEUE_URL      the FIFO events queue
//	LATCH_EVENTS_DLQ_URL        its FIFO dead-letter queue, where approvals moves poison messages
//	LATCH_STATE_MACHINE_ARN     the grant lifecycle state machine
//	LATCH_ESCALATOR_ARNS        JSON object: strategy → its escalator function
//	LATCH_APP_SECRETS_ARN       a secret holding a JSON object of SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, LATCH_ADMIN_TOKEN
//	<NAME>_ARN                  a secret whose value is <NAME> (deployments of earlier versions)
//	LATCH_*_SECRETS_ARN         a secret holding a JSON object of named values (a flow's secret_env, audit keys)
//	LATCH_SECRETS_TTL           how long a secret's value is used before it is read again (default 5m)
//	LATCH_SLACK_DEFER           "invoke": the slack function does the work after an answer in its own asynchronous invocation (slackjobs.go)
//
// Every secret is read through one cache (secrets.go): a value is read again
// once it is older than LATCH_SECRETS_TTL, so a rotation reaches every warm
// function within it, and what was built from a secret (the Slack app, the
// API's admin token, an escalator's signing key, the audit destinations) is
// built again when its value changes (Live). A secret that still holds its
// placeholder is "not configured yet" (ErrNotConfigured): what needs it is
// retried, never dropped.
//
// A value set directly in the environment wins over its secret, so the
// functions run with plain values under the Lambda emulator in tests. AWS
// endpoints come from the SDK's own settings (AWS_ENDPOINT_URL_DYNAMODB,
// AWS_ENDPOINT_URL_SQS, ...).
package boot

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/env"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

// Env is one function's configuration.
type Env struct {
	Log *slog.Logger
	AWS aws.Config
	// Rules compiles the rules of the flows Flows loads (policy.Lazy, in
	// the functions that evaluate rules: each rule compiled on its first
	// use, not at start; cdk synth compiled them all); nil: rules are read
	// but not compiled, and fail closed (flows.Uncompiled), so a function
	// that evaluates none does not link CEL.
	Rules flows.RuleCompiler
	// Strategies is the strategy registry (a strategy.Set), set by the
	// functions that escalate or check grants (the escalators, reconciler).
	// Without it, flows load with no strategy's settings checked (cdk synth
	// checked them) and the function links no strategy's package: their
	// AWS clients' and SDKs' package initialization was most of the other
	// functions' start.
	Strategies Strategies

	getenv func(string) string
	cache  *secretCache
}

// Load reads the AWS configuration (no network call) and sets up logging:
// JSON lines on standard error, which Lambda sends to CloudWatch Logs.
func Load(ctx context.Context) (*Env, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env.Or("LATCH_LOG_LEVEL", "info"))); err != nil {
		return nil, fmt.Errorf("LATCH_LOG_LEVEL: %w", err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	return NewEnv(log, cfg, os.Getenv)
}

// NewEnv returns the configuration of a function whose environment is
// getenv, with AWS configuration cfg.
func NewEnv(log *slog.Logger, cfg aws.Config, getenv func(string) string) (*Env, error) {
	ttl := DefaultSecretsTTL
	if v := getenv("LATCH_SECRETS_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("LATCH_SECRETS_TTL %q is not a duration such as 5m", v)
		}
		ttl = d
	}
	e := &Env{Log: log, AWS: cfg, getenv: getenv}
	e.cache = &secretCache{client: secretsmanager.NewFromConfig(cfg), ttl: ttl, now: time.Now,
		entries: map[string]secretEntry{},
		onStale: func(ctx context.Context, arn string, err error) {
			log.WarnContext(ctx, "could not read a secret again: its earlier value is used", "secret", arn, "err", err)
		}}
	return e, nil
}

// Get returns an environment variable.
func (e *Env) Get(name string) string { return e.getenv(name) }

// Need returns an environment variable that must be set.
func (e *Env) Need(name string) (string, error) {
	if v := e.getenv(name); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s is not set", name)
}

// Secret returns name's value: the environment variable name, else the
// value of the secret whose ARN is in name_ARN, else name's value in the
// JSON secret of LATCH_APP_SECRETS_ARN (both read through the cache), else
// "".
func (e *Env) Secret(ctx context.Context, name string) (string, error) {
	if v := e.getenv(name); v != "" {
		return v, nil
	}
	arn := e.getenv(name + "_ARN")
	if arn == "" {
		if e.getenv(appSecretsVar) == "" {
			return "", nil
		}
		m, err := e.jsonSecret(ctx, appSecretsVar)
		if err != nil {
			return "", err
		}
		return m[name], nil
	}
	v, err := e.cache.get(ctx, arn)
	if err != nil {
		return "", fmt.Errorf("read secret %s (%s_ARN): %w", arn, name, err)
	}
	return v, nil
}

// LookupEnv returns a lookup for the secrets flows and destinations name
// (secret_env): the environment first, then each JSON secret whose ARN is
// in one of the given variables. Each secret is read now, so that a missing
// or malformed one stops the function's start, and then through the cache
// on every lookup, so a rotation is seen within the TTL. A secret that
// cannot be read again keeps its earlier value (secretCache); one that is no
// longer a JSON object is logged and skipped.
func (e *Env) LookupEnv(ctx context.Context, arnVars ...string) (func(string) (string, bool), error) {
	var vars []string
	for _, v := range arnVars {
		if e.getenv(v) == "" {
			continue
		}
		if _, err := e.jsonSecret(ctx, v); err != nil {
			return nil, err
		}
		vars = append(vars, v)
	}
	return func(name string) (string, bool) {
		if v := e.getenv(name); v != "" {
			return v, true
		}
		for _, v := range vars {
			m, err := e.jsonSecret(context.Background(), v)
			if err != nil {
				e.Log.Error("a secret cannot be read", "variable", v, "err", err)
				continue
			}
			if val, ok := m[name]; ok {
				return val, true
			}
		}
		return "", false
	}, nil
}

// appSecretsVar holds the ARN of the JSON secret of the Slack app's and the
// API's values.
const appSecretsVar = "LATCH_APP_SECRETS_ARN"

// jsonSecret returns the values of the JSON secret whose ARN is in arnVar.
func (e *Env) jsonSecret(ctx context.Context, arnVar string) (map[string]string, error) {
	raw, err := e.jsonSecretRaw(ctx, arnVar)
	if err != nil {
		return nil, err
	}
	return parseJSONSecret(raw, e.getenv(arnVar), arnVar)
}

// Strategies is the strategy registry, as Env.Strategies.
type Strategies interface {
	// Has reports whether typ is a strategy of this build.
	Has(typ string) bool
	// FlowOptions accepts every known strategy type when flows load (none
	// given) and checks the settings of those linked.
	FlowOptions(types ...string) flows.Options
	// Escalators returns the escalator of each flow, its secrets found
	// with lookupEnv.
	Escalators(lookupEnv func(string) (string, bool)) func(*latch.Flow) (latch.Escalator, error)
}

// Flows loads the flow files of LATCH_FLOWS_DIR, their rules compiled with
// Rules, and, when Strategies is set, with every strategy of this build and
// its settings checked.
func (e *Env) Flows() ([]*latch.Flow, error) {
	var opts flows.Options
	if e.Strategies != nil {
		opts = e.Strategies.FlowOptions()
	}
	opts.Rules = e.Rules
	if opts.Rules == nil {
		opts.Rules = flows.Uncompiled
	}
	return e.LoadFlows(opts)
}

// LoadFlows loads the flow files of LATCH_FLOWS_DIR with opts: a function
// that reads flows only for their shape (what a grant's flow is) passes no
// strategies and flows.Uncompiled, and links neither the escalators nor
// CEL. The flows were validated at cdk synth.
func (e *Env) LoadFlows(opts flows.Options) ([]*latch.Flow, error) {
	dir, err := e.Need("LATCH_FLOWS_DIR")
	if err != nil {
		return nil, err
	}
	loaded, err := flows.Load(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("load flows from %s: %w", dir, err)
	}
	return loaded, nil
}

// Store opens the DynamoDB table of LATCH_TABLE.
func (e *Env) Store() (*dynamostore.Store, error) {
	table, err := e.Need("LATCH_TABLE")
	if err != nil {
		return nil, err
	}
	return dynamostore.New(dynamodb.NewFromConfig(e.AWS), table), nil
}

// Queue is a publisher to the events queue of LATCH_EVENTS_QUEUE_URL.
func (e *Env) Queue() (*sqsqueue.Publisher, error) {
	url, err := e.Need("LATCH_EVENTS_QUEUE_URL")
	if err != nil {
		return nil, err
	}
	return &sqsqueue.Publisher{Client: sqs.NewFromConfig(e.AWS), QueueURL: url}, nil
}

// DeadLetters is the sender of poison messages to the events queue's
// dead-letter queue of LATCH_EVENTS_DLQ_URL, or nil when it is not set (the
// queue's maxReceiveCount is then the only end of a message's retries).
func (e *Env) DeadLetters() *sqsqueue.DeadLetters {
	url := e.getenv("LATCH_EVENTS_DLQ_URL")
	if url == "" {
		return nil
	}
	return &sqsqueue.DeadLetters{Client: sqs.NewFromConfig(e.AWS), QueueURL: url}
}

// SFN is a Step Functions client.
func (e *Env) SFN() *sfn.Client { return sfn.NewFromConfig(e.AWS) }

// Directory is the user directory over store. The organisation's domains
// of LATCH_DOMAINS (the stack's Domains) seed a deployment that has none;
// after that `latch domains` manages them, and a cold start does not undo
// an admin's removal. It makes no call at start: the domains are read, and
// seeded, on the directory's first read of them (seededDomains). ctx is
// unused; a bad LATCH_DOMAINS still stops the start.
func (e *Env) Directory(_ context.Context, store latch.Store) (*identity.Directory, error) {
	seed := env.List(e.getenv("LATCH_DOMAINS"))
	for _, d := range seed {
		if _, err := identity.NormalizeDomain(d); err != nil {
			return nil, fmt.Errorf("LATCH_DOMAINS %q: %w", d, err)
		}
	}
	return &identity.Directory{Store: &seededDomains{Store: store, seed: seed}, Clock: latch.SystemClock}, nil
}

// Users is the engine's user directory over store, new people's roles given
// by dir's domains.
func Users(store latch.Store, dir *identity.Directory) *engine.Users {
	return &engine.Users{Store: store, Clock: latch.SystemClock, RoleFor: dir.RoleFor}
}
