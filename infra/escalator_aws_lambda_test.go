package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"
)

const (
	testFunction      = "arn:aws:lambda:eu-west-1:123456789012:function:latch-mysql"
	testFunctionAlias = "arn:aws:lambda:eu-west-1:123456789012:function:latch-grants:prod"
	testInvokeRole    = "arn:aws:iam::210987654321:role/latch-invoke"
)

// The aws_lambda escalator may invoke exactly the functions its flows name,
// and assume exactly the roles they name, and nothing of another strategy.
func TestAWSLambdaEscalatorRole(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mysql.yaml", `name: mysql
approval: {approvers: [a@example.com]}
strategy:
  type: aws_lambda
  function_arn: `+testFunction+`
  targets: [{id: orders-ro, settings: {database: orders}}]
`)
	write("mysql-again.yaml", `name: mysql-rw
approval: {approvers: [a@example.com]}
strategy:
  type: aws_lambda
  function_arn: `+testFunction+`
  targets: [{id: orders-rw}]
`)
	write("alias.yaml", `name: other-account
approval: {approvers: [a@example.com]}
strategy:
  type: aws_lambda
  function_arn: `+testFunctionAlias+`
  role_arn: `+testInvokeRole+`
  external_id: latch-prod
  targets: [{id: t}]
`)
	write("hook.yaml", `name: hook
approval: {approvers: [a@example.com]}
strategy:
  type: webhook
  url: https://hooks.example.com/latch
  secret_env: HOOK_SECRET
  targets: [{id: t}]
`)
	app, _ := newTestApp(t)
	stack, err := NewLatchStack(app, "Lambda", &LatchStackProps{LambdaDir: lambdaDir(t), FlowsDir: dir,
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}}})
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	got := toTmpl(t, assertions.Template_FromStack(stack.Stack, nil)).rolePermissions(t)

	want := permissions{}
	grant(want, []string{"EscalatorAwsLambdaLogs.Arn"}, logWrite...)
	grant(want, tableRW, tableActions...)
	grant(want, []string{"IntegrationSecrets"}, "secretsmanager:GetSecretValue")
	grant(want, []string{"Events.Arn"}, "sqs:SendMessage") // its reports
	grant(want, []string{testFunction}, "lambda:InvokeFunction")
	grant(want, []string{testInvokeRole}, "sts:AssumeRole")
	if diff := cmp.Diff(want, got["EscalatorAwsLambdaRole"]); diff != "" {
		t.Errorf("escalator-aws_lambda's role (-want +got):\n%s", diff)
	}
	// The webhook escalator gains nothing of aws_lambda's.
	if _, ok := got["EscalatorWebhookRole"]["lambda:InvokeFunction"]; ok {
		t.Errorf("the webhook escalator may invoke functions: %v", got["EscalatorWebhookRole"])
	}
	// The state machine invokes the new escalator (and every other).
	if sm := got["GrantsRole"]["lambda:InvokeFunction"]; !slices.Contains(sm, "EscalatorAwsLambda.Arn") {
		t.Errorf("the state machine invokes %v", sm)
	}
}
