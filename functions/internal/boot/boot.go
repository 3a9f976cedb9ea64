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
//	LATCH_STATE_MACHINE_ARN     the grant lifecycle state machine
//	LATCH_ESCALATOR_ARNS        JSON object: strategy → its escalator function
//	<NAME>_ARN                  a secret whose value is <NAME> (SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, LATCH_ADMIN_TOKEN)
//	LATCH_*_SECRETS_ARN         a secret holding a JSON object of named values (a flow's secret_env, audit keys)
//
// A value set directly in the environment wins over its secret, so the
// functions run with plain values under the Lambda emulator in tests. AWS
// endpoints come from the SDK's own settings (AWS_ENDPOINT_URL_DYNAMODB,
// AWS_ENDPOINT_URL_SQS, ...).
package boot

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/latchhq/latch/pkg/env"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sqsqueue"
	"github.com/latchhq/latch/pkg/strategies"
)

// Env is one function's configuration.
type Env struct {
	Log *slog.Logger
	AWS aws.Config

	getenv  func(string) string
	mu      sync.Mutex
	secrets map[string]map[string]string // secret ARN → its JSON object's values
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
	return &Env{Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})), AWS: cfg,
		getenv: os.Getenv, secrets: map[string]map[string]string{}}, nil
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
// value of the secret whose ARN is in name_ARN, else "".
func (e *Env) Secret(ctx context.Context, name string) (string, error) {
	if v := e.getenv(name); v != "" {
		return v, nil
	}
	arn := e.getenv(name + "_ARN")
	if arn == "" {
		return "", nil
	}
	out, err := secretsmanager.NewFromConfig(e.AWS).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("read secret %s (%s_ARN): %w", arn, name, err)
	}
	return aws.ToString(out.SecretString), nil
}

// LookupEnv returns a lookup for the secrets flows and destinations name
// (secret_env): the environment first, then each JSON secret whose ARN is
// in one of the given variables, read once.
func (e *Env) LookupEnv(ctx context.Context, arnVars ...string) (func(string) (string, bool), error) {
	var maps []map[string]string
	for _, v := range arnVars {
		arn := e.getenv(v)
		if arn == "" {
			continue
		}
		m, err := e.jsonSecret(ctx, arn, v)
		if err != nil {
			return nil, err
		}
		maps = append(maps, m)
	}
	return func(name string) (string, bool) {
		if v, ok := os.LookupEnv(name); ok {
			return v, true
		}
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}, nil
}

func (e *Env) jsonSecret(ctx context.Context, arn, from string) (map[string]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m, ok := e.secrets[arn]; ok {
		return m, nil
	}
	out, err := secretsmanager.NewFromConfig(e.AWS).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("read secret %s (%s): %w", arn, from, err)
	}
	m := map[string]string{}
	if s := aws.ToString(out.SecretString); strings.TrimSpace(s) != "" {
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("secret %s (%s) is not a JSON object of strings: %w", arn, from, err)
		}
	}
	e.secrets[arn] = m
	return m, nil
}

// Flows loads the flow files of LATCH_FLOWS_DIR with every strategy of this
// build.
func (e *Env) Flows() ([]*latch.Flow, error) {
	dir, err := e.Need("LATCH_FLOWS_DIR")
	if err != nil {
		return nil, err
	}
	loaded, err := flows.Load(dir, strategies.FlowOptions())
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

// SFN is a Step Functions client.
func (e *Env) SFN() *sfn.Client { return sfn.NewFromConfig(e.AWS) }

// Directory is the user directory over store. The organisation's domains
// of LATCH_DOMAINS (the stack's Domains) seed a deployment that has none;
// after that `latch domains` manages them, and a cold start does not undo
// an admin's removal.
func (e *Env) Directory(ctx context.Context, store latch.Store) (*identity.Directory, error) {
	dir := &identity.Directory{Store: store, Clock: latch.SystemClock}
	have, err := dir.Domains(ctx)
	if err != nil {
		return nil, fmt.Errorf("read domains: %w", err)
	}
	if len(have) > 0 {
		return dir, nil
	}
	for _, d := range env.List(e.getenv("LATCH_DOMAINS")) {
		if _, err := dir.AddDomain(ctx, d); err != nil {
			return nil, fmt.Errorf("LATCH_DOMAINS %q: %w", d, err)
		}
	}
	return dir, nil
}

// Users is the engine's user directory over store, new people's roles given
// by dir's domains.
func Users(store latch.Store, dir *identity.Directory) *engine.Users {
	return &engine.Users{Store: store, Clock: latch.SystemClock, RoleFor: dir.RoleFor}
}
