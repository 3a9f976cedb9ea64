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
	// taggedFunctions is the resource of the statement conditioned on the
	// function's latch:access-target tag: the account's functions.
	taggedFunctions = "arn:aws:lambda:*:" + testAccount + ":function:*"
)

// checkTaggedInvoke checks that the aws_lambda escalator may invoke the
// account's functions only under the condition that they carry the tag
// latch:access-target=true, and that no statement of any role allows an
// action on them without it.
func checkTaggedInvoke(t *testing.T, tp tmpl) {
	t.Helper()
	found := false
	for _, r := range tp.ofType("AWS::IAM::Policy") {
		for _, st := range list(r.Properties["PolicyDocument"].(map[string]any)["Statement"]) {
			st := st.(map[string]any)
			if !slices.ContainsFunc(list(st["Resource"]), func(r any) bool { return expr(r) == taggedFunctions }) {
				continue
			}
			roles := list(r.Properties["Roles"])
			want := map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/latch:access-target": "true"}}
			if diff := cmp.Diff(want, st["Condition"]); diff != "" {
				t.Errorf("roles %v: the account's functions (-want +got condition):\n%s", roles, diff)
			}
			if len(roles) != 1 || expr(roles[0]) != "EscalatorAwsLambdaRole" || !slices.Equal(list(st["Action"]), []any{"lambda:InvokeFunction"}) {
				t.Errorf("roles %v may %v the account's tagged functions; only the aws_lambda escalator may invoke them", roles, st["Action"])
			}
			found = true
		}
	}
	if !found {
		t.Error("the aws_lambda escalator may not invoke the account's functions tagged latch:access-target=true")
	}
}

// TestAWSLambdaEscalatorWithoutFlows: with no aws_lambda flow, the
// escalator may still invoke the account's tagged functions (for the
// revokes of the grants of removed flows), and no other function.
func TestAWSLambdaEscalatorWithoutFlows(t *testing.T) {
	app, _ := newTestApp(t)
	stack, err := NewLatchStack(app, "NoLambdaFlow", &LatchStackProps{LambdaDir: lambdaDir(t), FlowsDir: writeFlow(t, "hook.yaml", webhookFlow),
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}}})
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	tp := toTmpl(t, assertions.Template_FromStack(stack.Stack, nil))
	if got := tp.rolePermissions(t)["EscalatorAwsLambdaRole"]["lambda:InvokeFunction"]; !slices.Equal(got, []string{taggedFunctions}) {
		t.Errorf("the aws_lambda escalator may invoke %v, want only %s (with the tag condition)", got, taggedFunctions)
	}
	checkTaggedInvoke(t, tp)
}

// The aws_lambda escalator may invoke exactly the functions its flows name,
// and assume exactly the roles they name, and nothing of another strategy;
// and, whatever the flows, the functions of its account tagged
// latch:access-target=true, and only those (so a function whose last flow
// was removed still revokes its grants).
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
	tp := toTmpl(t, assertions.Template_FromStack(stack.Stack, nil))
	got := tp.rolePermissions(t)

	want := permissions{}
	grant(want, []string{"EscalatorAwsLambdaLogs.Arn"}, logWrite...)
	grant(want, tableRW, tableActions...)
	grant(want, []string{"IntegrationSecrets"}, "secretsmanager:GetSecretValue")
	grant(want, []string{"Events.Arn"}, "sqs:SendMessage") // its reports
	grant(want, []string{testFunction, taggedFunctions}, "lambda:InvokeFunction")
	grant(want, []string{testInvokeRole}, "sts:AssumeRole")
	if diff := cmp.Diff(want, got["EscalatorAwsLambdaRole"]); diff != "" {
		t.Errorf("escalator-aws_lambda's role (-want +got):\n%s", diff)
	}
	checkTaggedInvoke(t, tp)
	// The webhook escalator gains nothing of aws_lambda's.
	if _, ok := got["EscalatorWebhookRole"]["lambda:InvokeFunction"]; ok {
		t.Errorf("the webhook escalator may invoke functions: %v", got["EscalatorWebhookRole"])
	}
	// The state machine invokes the new escalator (and every other).
	if sm := got["GrantsRole"]["lambda:InvokeFunction"]; !slices.Contains(sm, "EscalatorAwsLambda.Arn") {
		t.Errorf("the state machine invokes %v", sm)
	}
}
