// Command infra is the CDK app that deploys Latch into an AWS account: one
// stack (LatchStack) with its table, queues, functions, HTTP API, grant
// state machine, secrets and alarms.
//
// It synthesizes with Go and node only (`make synth`, or
// `CDK_OUTDIR=cdk.out go run ./infra`); `cdk deploy` runs it through the
// CDK CLI (cdk.json). The customer's choices are context values, set in
// cdk.json or with `cdk deploy -c key=value`:
//
//	latch:stackName             the stack's name (default Latch)
//	latch:lambdaDir             prebuilt functions, <dir>/<name>/bootstrap (default bin/lambda; `make lambdas`)
//	latch:flowsDir              the flow files (default flows)
//	latch:domains               the organisation's email domains: ["example.com"] or "example.com,example.org"
//	latch:alarmEmail            subscribed to the alarm topic
//	latch:strategies            ignored (every strategy of the build is deployed); noted at synth
//	latch:crossAccountRoleArns  per strategy, the roles its escalator may assume: {"aws_iam": ["arn:aws:iam::…:role/…"]}
//	latch:auditFirehoseStream   a Firehose stream the audit function ships to
//	latch:auditSettings         the audit destinations' other settings: {"LATCH_AUDIT_DATADOG_SITE": "EU1"}
//	latch:logRetentionDays      retention of the log groups (default 90)
//
// Run directly, the app reads the context of ./cdk.json itself (the CDK CLI
// passes it; values it passes win), so `make synth` and `cdk deploy` build
// the same template with the same feature flags.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "latch infra:", err)
		jsii.Close()
		os.Exit(1)
	}
}

func run() error {
	ctx, err := cdkJSONContext("cdk.json")
	if err != nil {
		return err
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	props, name, err := propsFromContext(app)
	if err != nil {
		return err
	}
	props.StackProps = awscdk.StackProps{
		StackName:   jsii.String(name),
		Description: jsii.String("Latch: just-in-time access (Slack, API, approvals, grant lifecycle, audit)"),
		Env: &awscdk.Environment{
			Account: envOrNil("CDK_DEFAULT_ACCOUNT"),
			Region:  envOrNil("CDK_DEFAULT_REGION"),
		},
	}
	noteIgnoredStrategies(os.Stderr, app.Node().TryGetContext(jsii.String(ctxStrategies)) != nil)
	if _, err := NewLatchStack(app, name, props); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}

// cdkJSONContext returns the "context" object of the cdk.json at path.
func cdkJSONContext(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the feature flags and settings: %w (run from the repository's root)", err)
	}
	var doc struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc.Context, nil
}

func envOrNil(name string) *string {
	if v := os.Getenv(name); v != "" {
		return &v
	}
	return nil
}
