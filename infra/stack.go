package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	latchstrategies "github.com/latchhq/latch/pkg/strategies"
)

// LatchStackProps are the customer's choices for one Latch deployment.
type LatchStackProps struct {
	awscdk.StackProps

	// LambdaDir holds one folder per function with a prebuilt bootstrap
	// (<LambdaDir>/<function>/bootstrap), as `make lambdas` writes them.
	LambdaDir string
	// FlowsDir is the directory of flow files. They are validated at synth
	// and shipped to the functions in a Lambda layer.
	FlowsDir string

	// Domains are the organisation's email domains (LATCH_DOMAINS): people
	// with an address in one are members, anyone else is a guest.
	Domains []string
	// AlarmEmail, when set, is subscribed to the alarm topic.
	AlarmEmail string
	// Strategies are the strategy types deployed, one escalator function
	// each (escalator-<strategy>): NewLatchStack sets them to every strategy
	// of this build (pkg/strategies.Types), whatever is given, so that no
	// deployment can remove the function that revokes a strategy's open
	// grants.
	Strategies []string
	// CrossAccountRoleArns are, per strategy, the IAM roles its escalator may
	// assume (sts:AssumeRole on exactly these).
	CrossAccountRoleArns map[string][]string
	// AuditFirehoseStream, when set, is the name of an Amazon Data Firehose
	// stream in the stack's account and region the audit function ships to.
	AuditFirehoseStream string
	// AuditSettings are the other settings of the audit destinations
	// (LATCH_AUDIT_DATADOG_SITE, LATCH_AUDIT_DATADOG_TAGS,
	// LATCH_AUDIT_HTTP_URL, ...; see docs/audit.md), set in the audit
	// function's environment. Their secrets (LATCH_AUDIT_DATADOG_API_KEY,
	// LATCH_AUDIT_HTTP_SECRET) go in the audit secret, never here.
	AuditSettings map[string]string
	// SlackSettings are the Slack app's settings besides its secrets, set in
	// the environment of the functions that talk to Slack (slack, approvals,
	// reconciler): SLACK_API_URL (GovSlack), SLACK_TEAM_IDS (the app's
	// workspaces), LATCH_SLACK_CHANNEL (the approval channel of flows that
	// name none). Any other key is refused.
	SlackSettings map[string]string
	// LogRetention of every function's and the state machine's log group;
	// zero means three months.
	LogRetention awslogs.RetentionDays
	// StateMachineLogLevel is the grant state machine's log level: ERROR
	// (the default), ALL, FATAL or OFF.
	StateMachineLogLevel string
	// StateMachineLogExecutionData logs each state's input and output,
	// which hold task tokens and people's emails; off by default.
	StateMachineLogExecutionData bool
	// TaskConcurrency is the reserved concurrency of granttasks and of each
	// escalator function, so that a flood of requests cannot starve the
	// grant lifecycle; nil means DefaultTaskConcurrency, 0 none (for an
	// account whose concurrency limit leaves no room to reserve).
	TaskConcurrency *float64
	// API throttling of the HTTP API's default stage, per second: steady
	// rate and burst; zero means DefaultAPIRate and DefaultAPIBurst.
	APIRate, APIBurst float64

	// usedStrategies are the strategies the flows use: only their
	// escalators (and the reconciler's drift checks) get the actions of a
	// grant in AWS; those of a revoke every escalator of an AWS strategy
	// has (escalatorPolicies).
	usedStrategies []string
}

// Defaults of the props.
const (
	DefaultTaskConcurrency = 5
	DefaultAPIRate         = 50
	DefaultAPIBurst        = 100
)

// LatchStack is one Latch deployment.
type LatchStack struct {
	awscdk.Stack
	Table     *table
	Queues    *queues
	Secrets   *secrets
	Functions *functions
}

// NewLatchStack builds the stack. It returns an error, and builds nothing,
// when a prop is wrong or a flow file is not valid (one "file:line: reason"
// per problem).
func NewLatchStack(scope constructs.Construct, id string, props *LatchStackProps) (*LatchStack, error) {
	p := *props
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_THREE_MONTHS
	}
	if p.StateMachineLogLevel == "" {
		p.StateMachineLogLevel = "ERROR"
	}
	if p.TaskConcurrency == nil {
		p.TaskConcurrency = jsii.Number(DefaultTaskConcurrency)
	}
	if p.APIRate == 0 {
		p.APIRate = DefaultAPIRate
	}
	if p.APIBurst == 0 {
		p.APIBurst = DefaultAPIBurst
	}
	p.Strategies = latchstrategies.Types()
	if err := p.check(); err != nil {
		return nil, err
	}
	flowFiles, used, err := loadFlows(p.FlowsDir, p.Strategies)
	if err != nil {
		return nil, err
	}
	p.usedStrategies = used

	stack := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	s := &LatchStack{Stack: stack}
	s.Table = newTable(stack)
	s.Queues = newQueues(stack)
	s.Secrets = newSecrets(stack)
	layer := newFlowsLayer(stack, flowFiles)
	s.Functions = newFunctions(stack, &p, s.Table, s.Queues, s.Secrets, layer)
	if err := allowAWSLambda(s.Functions, p.FlowsDir, p.Strategies); err != nil {
		return nil, err
	}
	sm := newGrantStateMachine(stack, &p, s.Functions, s.Queues)
	s.Functions.allowGrantRunner(stack, sm, p.Strategies)
	api := newHTTPAPI(stack, &p, s.Functions)
	newAlarms(stack, &p, s.Queues, s.Functions, sm)
	outputs(stack, api, s)
	return s, nil
}

var roleArn = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+$`)

// check reports every problem of the props at once.
func (p *LatchStackProps) check() error {
	var errs []error
	if p.LambdaDir == "" {
		errs = append(errs, errors.New("LambdaDir (context latch:lambdaDir) is empty"))
	} else {
		for _, name := range functionNames(p.Strategies) {
			path := filepath.Join(p.LambdaDir, name, "bootstrap")
			if _, err := os.Stat(path); err != nil {
				errs = append(errs, fmt.Errorf("function %s: no prebuilt %s: run `make lambdas` (it builds ./functions/%s)", name, path, name))
			}
		}
	}
	if p.FlowsDir == "" {
		errs = append(errs, errors.New("FlowsDir (context latch:flowsDir) is empty"))
	}
	for s, arns := range p.CrossAccountRoleArns {
		if !slices.Contains(p.Strategies, s) {
			errs = append(errs, fmt.Errorf("cross-account roles for strategy %q, which this build does not have (it has %s)", s, strings.Join(strategyNames(), ", ")))
		}
		for _, a := range arns {
			if !roleArn.MatchString(a) {
				errs = append(errs, fmt.Errorf("cross-account role %q (strategy %s) is not an IAM role ARN", a, s))
			}
		}
	}
	for _, d := range p.Domains {
		if d == "" || strings.ContainsAny(d, ", @") {
			errs = append(errs, fmt.Errorf("domain %q: write a bare domain name such as example.com", d))
		}
	}
	for _, k := range sortedKeys(p.AuditSettings) {
		switch {
		case !strings.HasPrefix(k, "LATCH_AUDIT_"):
			errs = append(errs, fmt.Errorf("audit setting %s: only LATCH_AUDIT_* settings", k))
		case slices.Contains(auditSecretNames, k):
			errs = append(errs, fmt.Errorf("audit setting %s is a secret: put it in the integrations secret (%s), not in the template", k, "<stack>/integrations"))
		case k == envAuditFirehose:
			errs = append(errs, fmt.Errorf("audit setting %s: use AuditFirehoseStream (context latch:auditFirehoseStream), which also allows the function to send to it", k))
		}
	}
	for _, k := range sortedKeys(p.SlackSettings) {
		if !slices.Contains(slackSettingNames, k) {
			errs = append(errs, fmt.Errorf("slack setting %s: only %s (the bot token and signing secret are secrets)", k, strings.Join(slackSettingNames, ", ")))
		}
	}
	if p.StateMachineLogLevel != "" && !slices.Contains(stateMachineLogLevels, p.StateMachineLogLevel) {
		errs = append(errs, fmt.Errorf("state machine log level %q: want one of %s", p.StateMachineLogLevel, strings.Join(stateMachineLogLevels, ", ")))
	}
	if p.TaskConcurrency != nil && (*p.TaskConcurrency < 0 || *p.TaskConcurrency != float64(int(*p.TaskConcurrency))) {
		errs = append(errs, fmt.Errorf("task concurrency %v: want a whole number, 0 for none", *p.TaskConcurrency))
	}
	if p.APIRate < 0 || p.APIBurst < 0 {
		errs = append(errs, fmt.Errorf("API throttling %v/s, burst %v: want positive numbers", p.APIRate, p.APIBurst))
	}
	if p.AlarmEmail != "" && !strings.Contains(p.AlarmEmail, "@") {
		errs = append(errs, fmt.Errorf("alarm email %q is not an email address", p.AlarmEmail))
	}
	return errors.Join(errs...)
}

// stateMachineLogLevels are the log levels of Step Functions.
var stateMachineLogLevels = []string{"ALL", "ERROR", "FATAL", "OFF"}

// slackSettingNames are the Slack settings a deployment may set (SlackSettings).
var slackSettingNames = []string{"LATCH_SLACK_CHANNEL", "SLACK_API_URL", "SLACK_TEAM_IDS"}

// outputs are what an operator needs after `cdk deploy`: where to point the
// Slack app, and which secrets to fill in.
func outputs(stack awscdk.Stack, api string, s *LatchStack) {
	out := func(id, value, desc string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
	}
	out("ApiUrl", api, "Base URL of the HTTP API: Slack requests go to <url>slack/..., API calls to <url>v1/...")
	out("TableName", *s.Table.Table.TableName(), "The DynamoDB table")
	out("AppSecretArn", *s.Secrets.App.SecretArn(),
		"Put the Slack app's SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN (xoxb-...) here; LATCH_ADMIN_TOKEN is the generated bootstrap admin token")
	out("IntegrationSecretArn", *s.Secrets.Integrations.SecretArn(),
		"A JSON object of the secrets hooks and strategies name with secret_env, and the audit destinations' keys")
	out("EventsQueueUrl", *s.Queues.Events.QueueUrl(), "The events queue: where latch admin redrive --to moves dead letters back")
	out("EventsDLQUrl", *s.Queues.EventsDLQ.QueueUrl(), "The events queue's dead-letter queue: latch admin redrive --from")
}
