package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
	"github.com/latchhq/latch/pkg/dynamostore"
)

// Timeouts of the functions. The events queue's visibility timeout is
// derived from approvalsTimeout.
const (
	ingressTimeout    = 10 * time.Second // Slack wants an answer within 3 s; API Gateway waits at most 30 s
	slackTimeout      = 35 * time.Second // an answer within 3 s; the work after it (its own invocation) within 30 s
	approvalsTimeout  = 30 * time.Second
	grantTasksTimeout = 30 * time.Second
	auditTimeout      = 60 * time.Second
	reconcilerTimeout = 50 * time.Second // it runs every minute
)

// Environment variables the stack sets. A variable named <NAME>_ARN holds
// the ARN of the Secrets Manager secret whose value is <NAME> (for example
// SLACK_SIGNING_SECRET_ARN → the value of SLACK_SIGNING_SECRET). A variable
// named *_SECRETS_ARN holds the ARN of a secret whose value is a JSON object
// of named secrets, read for names the environment does not have (a flow's
// secret_env).
const (
	envTable           = "LATCH_TABLE"                 // the DynamoDB table's name
	envFlowsDir        = "LATCH_FLOWS_DIR"             // the flow files (the flows layer)
	envDomains         = "LATCH_DOMAINS"               // the organisation's email domains, comma-separated
	envLogLevel        = "LATCH_LOG_LEVEL"             // debug, info, warn, error
	envEventsQueueURL  = "LATCH_EVENTS_QUEUE_URL"      // the FIFO events queue
	envEventsDLQURL    = "LATCH_EVENTS_DLQ_URL"        // its dead-letter queue, where approvals moves poison messages
	envStateMachineArn = "LATCH_STATE_MACHINE_ARN"     // the grant lifecycle state machine
	envEscalatorArns   = "LATCH_ESCALATOR_ARNS"        // JSON object: strategy → its escalator function's ARN
	envStrategy        = "LATCH_STRATEGY"              // an escalator's strategy type
	envAppSecretsArn   = "LATCH_APP_SECRETS_ARN"       // secret: JSON object of SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, LATCH_ADMIN_TOKEN
	envHooksSecretsArn = "LATCH_HOOKS_SECRETS_ARN"     // secret: JSON object of hooks' secret_env values
	envStrategySecrets = "LATCH_STRATEGY_SECRETS_ARN"  // secret: JSON object of the strategy's named secrets
	envAuditStdout     = "LATCH_AUDIT_STDOUT"          // "true": audit events also go to the function's log
	envAuditFirehose   = "LATCH_AUDIT_FIREHOSE_STREAM" // the Firehose stream the audit function ships to
	envAuditSecretsArn = "LATCH_AUDIT_SECRETS_ARN"     // secret: JSON object of the audit destinations' secrets
	envSlackDefer      = "LATCH_SLACK_DEFER"           // "invoke": the slack function runs the work after an answer in its own asynchronous invocation
)

// function is one Lambda function with its own role and log group.
type function struct {
	Name     string
	Fn       awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// functions are every function of the stack.
type functions struct {
	Slack, API, Approvals, GrantTasks, Audit, Reconciler *function
	// Escalators by strategy.
	Escalators map[string]*function
	// All in a stable order: slack, api, approvals, granttasks, the
	// escalators in the order of the strategies prop, audit, reconciler.
	All []*function
}

// escalatorPolicies give a strategy's escalator role the actions the
// strategy takes in AWS; each AWS strategy adds its own in
// infra/escalator_<type>.go. The actions a revoke (and its check) needs are
// always given, whatever the flows, so that removing a strategy's last flow
// never blocks revoking the grants made under it; those a grant needs only
// when granting is true: a flow uses the strategy.
var escalatorPolicies = map[string]func(f *function, p *LatchStackProps, granting bool){}

type fnSpec struct {
	name    string
	desc    string
	timeout time.Duration
	memory  float64
	env     map[string]string
	flows   bool // gets the flows layer and LATCH_FLOWS_DIR
	// reserved is the function's reserved concurrency: at most this many
	// run at once, and they always can, whatever else runs in the
	// account. 0: none.
	reserved float64
}

func newFunction(stack awscdk.Stack, p *LatchStackProps, layer awslambda.ILayerVersion, s fnSpec) *function {
	id := camel(s.name)
	role := awsiam.NewRole(stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Latch function " + s.name + ": only what it uses"),
	})
	logs := awslogs.NewLogGroup(stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// The function writes its own log group and no other (no
	// AWSLambdaBasicExecutionRole, whose resource is *).
	logs.GrantWrite(role)
	env := map[string]*string{envLogLevel: jsii.String("info")}
	for k, v := range s.env {
		env[k] = jsii.String(v)
	}
	var layers *[]awslambda.ILayerVersion
	if s.flows {
		layers = &[]awslambda.ILayerVersion{layer}
		env[envFlowsDir] = jsii.String(flowsPath)
	}
	fn := awslambda.NewFunction(stack, jsii.String(id), &awslambda.FunctionProps{
		Description:  jsii.String(s.desc),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(p.LambdaDir, s.name)), nil),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(s.timeout.Seconds())),
		MemorySize:   jsii.Number(s.memory),
		Role:         role,
		LogGroup:     logs,
		Environment:  &env,
		Layers:       layers,
	})
	if s.reserved > 0 {
		fn.Node().DefaultChild().(awslambda.CfnFunction).SetReservedConcurrentExecutions(jsii.Number(s.reserved))
	}
	return &function{Name: s.name, Fn: fn, Role: role, LogGroup: logs}
}

// tableActions are the DynamoDB actions of dynamostore.Store: GetItem,
// PutItem, UpdateItem, DeleteItem and Query (on the table and its indexes),
// and TransactWriteItems, which AWS authorizes per item as PutItem,
// UpdateItem, DeleteItem and ConditionCheckItem. No Scan, no batch call.
var tableActions = []string{
	"dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
	"dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
}

// tableReadActions and tableWriteActions split tableActions for the edge
// functions (allowDirectory).
var (
	tableReadActions  = []string{"dynamodb:GetItem", "dynamodb:Query"}
	tableWriteActions = []string{"dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
)

// allow adds one statement to the function's role.
func (f *function) allow(actions []string, resources ...*string) {
	f.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}))
}

// allowTable lets the function use the table as dynamostore.Store does.
func (f *function) allowTable(t *table) {
	f.allow(tableActions, t.Table.TableArn(), jsii.String(*t.Table.TableArn()+"/index/*"))
}

// allowDirectory lets an edge function (slack, api) read the table and its
// indexes, and write only the items of the directory and of the admin
// audit log (dynamostore.DirectoryPartitions), by a dynamodb:LeadingKeys
// condition: never a request, its audit events, a grant, the outbox or a
// dedup marker, which only the core functions write.
func (f *function) allowDirectory(t *table) {
	f.allow(tableReadActions, t.Table.TableArn(), jsii.String(*t.Table.TableArn()+"/index/*"))
	leading := make([]*string, len(dynamostore.DirectoryPartitions))
	for i, prefix := range dynamostore.DirectoryPartitions {
		leading[i] = jsii.String(prefix + "*")
	}
	f.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(tableWriteActions...),
		Resources: &[]*string{t.Table.TableArn()},
		Conditions: &map[string]any{
			"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": leading},
		},
	}))
}

// allowSend lets the function send to q (and nothing else of it).
func (f *function) allowSend(q awssqs.IQueue) {
	f.allow([]string{"sqs:SendMessage"}, q.QueueArn())
}

// allowSecrets lets the function read the values of these secrets.
func (f *function) allowSecrets(ss ...awssecretsmanager.ISecret) {
	arns := make([]*string, len(ss))
	for i, s := range ss {
		arns[i] = s.SecretArn()
	}
	f.allow([]string{"secretsmanager:GetSecretValue"}, arns...)
}

// setEnv adds settings to the function's environment.
func (f *function) setEnv(settings map[string]string) {
	for _, k := range sortedKeys(settings) {
		f.Fn.AddEnvironment(jsii.String(k), jsii.String(settings[k]), nil)
	}
}

func newFunctions(stack awscdk.Stack, p *LatchStackProps, t *table, q *queues, sec *secrets, layer awslambda.ILayerVersion) *functions {
	tableName := *t.Table.TableName()
	queueURL := *q.Events.QueueUrl()
	domains := strings.Join(p.Domains, ",")
	arn := func(s awssecretsmanager.Secret) string { return *s.SecretArn() }
	fs := &functions{Escalators: map[string]*function{}}
	add := func(s fnSpec) *function {
		f := newFunction(stack, p, layer, s)
		fs.All = append(fs.All, f)
		return f
	}

	// slack: Slack ingress. Verifies the signature, opens views, enqueues
	// everything else; may record what it learns of users. It answers Slack
	// at once and does the work after the answer (a click's decision, the
	// form, whoami, the Home tab) in an asynchronous invocation of itself
	// (functions/internal/boot/slackjobs.go): retried once, for up to 10
	// minutes, then sent to SlackWorkDLQ.
	fs.Slack = add(fnSpec{name: fnSlack, desc: "Latch Slack ingress", timeout: slackTimeout, memory: 512, flows: true,
		env: map[string]string{
			envTable: tableName, envDomains: domains, envEventsQueueURL: queueURL,
			envAppSecretsArn: arn(sec.App), envSlackDefer: "invoke",
		}})
	fs.Slack.setEnv(p.SlackSettings)
	fs.Slack.allowDirectory(t)
	fs.Slack.allowSend(q.Events)
	fs.Slack.allowSecrets(sec.App)
	// In a policy of its own: the role's default policy cannot name the
	// function, which depends on it.
	awsiam.NewPolicy(stack, jsii.String("SlackInvokesItself"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{fs.Slack.Role},
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("lambda:InvokeFunction"),
			Resources: &[]*string{fs.Slack.Fn.FunctionArn()},
		})},
	})
	// The destination's sqs:SendMessage (on SlackWorkDLQ only) is granted
	// to the role by the configuration.
	fs.Slack.Fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(1),
		MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(10)),
		OnFailure:     awslambdadestinations.NewSqsDestination(q.SlackWorkDLQ),
	})

	// api: API ingress. Bearer tokens (the bootstrap admin token, bots'
	// tokens in the table), reads from the table, commands to the queue.
	fs.API = add(fnSpec{name: fnAPI, desc: "Latch API ingress", timeout: ingressTimeout, memory: 512, flows: true,
		env: map[string]string{
			envTable: tableName, envDomains: domains, envEventsQueueURL: queueURL,
			envAppSecretsArn: arn(sec.App),
		}})
	fs.API.setEnv(p.SlackSettings) // user_id is resolved with users.info
	fs.API.allowDirectory(t)
	fs.API.allowSend(q.Events)
	fs.API.allowSecrets(sec.App)

	// approvals: the events queue's consumer and the only writer of request
	// state. Posts to Slack, runs hooks, starts grant executions (the state
	// machine's permissions are added by allowGrantRunner).
	fs.Approvals = add(fnSpec{name: fnApprovals, desc: "Latch approvals: the only writer of request state", timeout: approvalsTimeout,
		memory: 512, flows: true,
		env: map[string]string{
			envTable: tableName, envDomains: domains, envEventsDLQURL: *q.EventsDLQ.QueueUrl(),
			envAppSecretsArn: arn(sec.App), envHooksSecretsArn: arn(sec.Integrations),
		}})
	fs.Approvals.setEnv(p.SlackSettings)
	fs.Approvals.allowTable(t)
	// Poison messages are moved to the DLQ by the function itself
	// (pkg/sqsqueue, "Poison messages").
	fs.Approvals.allowSend(q.EventsDLQ)
	fs.Approvals.allowSecrets(sec.App, sec.Integrations)
	// Receive, delete, change visibility: granted to the role by the event
	// source. A batch reports its failed messages; the rest are deleted.
	fs.Approvals.Fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(q.Events, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
	}))

	// granttasks: the state machine's own tasks (pkg/sfngrants.TaskHandler:
	// hold, escalation_failed, deescalation_failed). Reads grants, records
	// the Hold's task token in the table, answers a Hold at once when the
	// grant already asks for something else (states:SendTaskSuccess, added
	// by allowGrantRunner). It sends its reports (due, the failures) to the
	// events queue itself: no state machine transition is spent on them.
	fs.GrantTasks = add(fnSpec{name: fnGrantTasks, desc: "Latch grant lifecycle tasks", timeout: grantTasksTimeout, memory: 256, flows: true,
		env: map[string]string{envTable: tableName, envEventsQueueURL: queueURL}, reserved: *p.TaskConcurrency})
	fs.GrantTasks.allowTable(t)
	fs.GrantTasks.allowSend(q.Events)

	// escalator-<strategy>: the state machine's escalate and revoke tasks
	// (pkg/sfngrants.TaskHandler) for one strategy. It reads the grant and
	// its request from the table and finds the grantee's identity (the
	// stored one, the flow's get_identity hook, the strategy's lookup, which
	// it stores), then grants or revokes in the target system. It reads its
	// strategy's secrets and the hooks' secrets, and may assume the
	// strategy's cross-account roles. It sends its reports (escalated,
	// deescalated) to the events queue itself, and records a revoke's last
	// error beside the Hold's token.
	for _, name := range p.Strategies {
		roles := p.CrossAccountRoleArns[name]
		env := map[string]string{
			envTable: tableName, envStrategy: name, envEventsQueueURL: queueURL,
			envStrategySecrets: arn(sec.Integrations), envHooksSecretsArn: arn(sec.Integrations),
		}
		f := add(fnSpec{name: escalatorName(name), desc: "Latch escalator for the " + name + " strategy",
			timeout: escalatorTimeout(name), memory: 256, flows: true, env: env, reserved: *p.TaskConcurrency})
		f.allowTable(t)
		f.allowSend(q.Events)
		f.allowSecrets(sec.Integrations)
		if len(roles) > 0 {
			f.allow([]string{"sts:AssumeRole"}, *jsii.Strings(roles...)...)
		}
		if allow := escalatorPolicies[name]; allow != nil {
			allow(f, p, slices.Contains(p.usedStrategies, name))
		}
		fs.Escalators[name] = f
	}

	// audit: ships audit events from the table's stream to the configured
	// destinations (and to its own log).
	auditEnv := map[string]string{envAuditStdout: "true", envAuditSecretsArn: arn(sec.Integrations)}
	for k, v := range p.AuditSettings {
		auditEnv[k] = v
	}
	if p.AuditFirehoseStream != "" {
		auditEnv[envAuditFirehose] = p.AuditFirehoseStream
	}
	fs.Audit = add(fnSpec{name: fnAudit, desc: "Latch audit shipper (DynamoDB stream to destinations)", timeout: auditTimeout, memory: 256,
		env: auditEnv})
	fs.Audit.allowSecrets(sec.Integrations)
	if p.AuditFirehoseStream != "" {
		fs.Audit.allow([]string{"firehose:PutRecordBatch"}, stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("firehose"), Resource: jsii.String("deliverystream"),
			ResourceName: jsii.String(p.AuditFirehoseStream),
		}))
	}
	// Stream read (dynamodb:DescribeStream, GetRecords, GetShardIterator on
	// the stream, and dynamodb:ListStreams, whose resource must be *: it has
	// no resource-level permissions) and sqs:SendMessage on the DLQ are
	// granted to the role by the event source. Only inserted audit events
	// reach the function: every other item is filtered out before it is
	// invoked (and billed).
	fs.Audit.Fn.AddEventSource(awslambdaeventsources.NewDynamoEventSource(t.Table, &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:   awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:          jsii.Number(100),
		MaxBatchingWindow:  awscdk.Duration_Seconds(jsii.Number(1)),
		BisectBatchOnError: jsii.Bool(true),
		// One batch at a time per shard: Lambda keeps the order of each
		// item's records only, and a request's events must ship in order
		// (pkg/audit/streamship).
		ParallelizationFactor:   jsii.Number(1),
		ReportBatchItemFailures: jsii.Bool(true),
		// A destination that is down is retried for hours; then the batch's
		// description goes to the DLQ (and raises an alarm). The events
		// themselves stay in the table.
		RetryAttempts: jsii.Number(1000),
		MaxRecordAge:  awscdk.Duration_Hours(jsii.Number(6)),
		OnFailure:     awslambdaeventsources.NewSqsDlq(q.AuditDLQ),
		Filters: &[]*map[string]interface{}{awslambda.FilterCriteria_Filter(&map[string]interface{}{
			"eventName": awslambda.FilterRule_IsEqual(jsii.String("INSERT")),
			"dynamodb": map[string]interface{}{
				"NewImage": map[string]interface{}{
					dynamostore.AttrType: map[string]interface{}{"S": awslambda.FilterRule_IsEqual(jsii.String(dynamostore.TypeAudit))},
				},
			},
		})},
	}))

	// reconciler: every minute, sends the expiry of pending requests past
	// their deadline (the AWS scheduler: the deadline is stored with the
	// request), carries out outbox effects left behind, and sets overdue
	// revokes and stuck grants going again (pkg/reconcile). It changes
	// state through the engine like approvals (Slack, hooks, the state
	// machine: allowGrantRunner) and sends commands to the events queue.
	// One run at a time (reserved concurrency 1), and no retry by Lambda of
	// a failed run: the next scheduled run, a minute later, is the retry.
	fs.Reconciler = add(fnSpec{name: fnReconciler, desc: "Latch reconciler: expiries, outbox, overdue and stuck grants", timeout: reconcilerTimeout,
		memory: 256, flows: true, reserved: 1,
		env: map[string]string{
			envTable: tableName, envDomains: domains, envEventsQueueURL: queueURL,
			envAppSecretsArn: arn(sec.App), envHooksSecretsArn: arn(sec.Integrations),
		}})
	fs.Reconciler.setEnv(p.SlackSettings)
	fs.Reconciler.allowTable(t)
	fs.Reconciler.allowSend(q.Events)
	fs.Reconciler.allowSecrets(sec.App, sec.Integrations)
	fs.Reconciler.Fn.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(0),
		MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(60)),
	})
	allowDriftChecks(p, fs.Reconciler)
	awsevents.NewRule(stack, jsii.String("ReconcilerSchedule"), &awsevents.RuleProps{
		Description: jsii.String("Latch reconciler, every minute"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fs.Reconciler.Fn,
			&awseventstargets.LambdaFunctionProps{RetryAttempts: jsii.Number(0)})},
	})
	return fs
}

// allowGrantRunner gives the functions what they need of the state
// machine. approvals (and the reconciler, through the same engine) runs grants (pkg/sfngrants.Runner): it starts one
// execution per grant with the escalator function of the grant's strategy
// in its input, wakes an execution's Hold with its task token (early
// revoke, extension), and looks at an execution that did not answer.
// granttasks answers a Hold with its task token.
func (fs *functions) allowGrantRunner(stack awscdk.Stack, sm awsstepfunctions.StateMachine, strategies []string) {
	escalators := map[string]string{}
	for _, s := range strategies {
		escalators[s] = *fs.Escalators[s].Fn.FunctionArn()
	}
	b, err := json.Marshal(escalators)
	if err != nil {
		panic(err)
	}
	for _, f := range []*function{fs.Approvals, fs.Reconciler} {
		f.Fn.AddEnvironment(jsii.String(envStateMachineArn), sm.StateMachineArn(), nil)
		f.Fn.AddEnvironment(jsii.String(envEscalatorArns), jsii.String(string(b)), nil)
		f.allow([]string{"states:StartExecution", "states:SendTaskSuccess"}, sm.StateMachineArn())
		// The executions of this state machine, and no other's.
		f.allow([]string{"states:DescribeExecution"}, stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("states"), Resource: jsii.String("execution"),
			ResourceName: jsii.String(*sm.StateMachineName() + ":*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		}))
	}
	// Not in the role's default policy: the function depends on that one,
	// and the state machine depends on the function (it invokes it), so the
	// statement naming the state machine goes in a policy of its own.
	awsiam.NewPolicy(stack, jsii.String("GranttasksStates"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{fs.GrantTasks.Role},
		Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("states:SendTaskSuccess"),
			Resources: &[]*string{sm.StateMachineArn()},
		})},
	})
}
