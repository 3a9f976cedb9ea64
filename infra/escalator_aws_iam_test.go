package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"
)

const awsIAMFlow = `name: iam
label: IAM
approval: {approvers: [a@example.com]}
strategy:
  type: aws_iam
  targets:
    - {id: web, label: Web, settings: {group: latch-web}}
`

const webhookFlow = `name: hook
label: Hook
approval: {approvers: [a@example.com]}
strategy:
  type: webhook
  url: https://hooks.example.com/latch
  secret_env: HOOK_SECRET
  targets: [{id: t}]
`

// TestAWSIAMEscalatorRole: every deployment has the aws_iam escalator
// function. Its role holds, whatever the flows, what a revoke and its check
// need (iam:RemoveUserFromGroup and iam:GetGroup on the account's groups,
// iam:ListGroupsForUser on its users) and sts:AssumeRole on the
// cross-account roles listed for it, so that grants made under a removed
// flow are still revoked; iam:AddUserToGroup only while a flow uses aws_iam.
// The reconciler, which checks and repairs aws_iam targets, holds the same.
func TestAWSIAMEscalatorRole(t *testing.T) {
	app, _ := newTestApp(t)
	lambdas := lambdaDir(t)
	stacks := map[bool]*LatchStack{}
	for _, withFlow := range []bool{true, false} {
		dir := writeFlow(t, "hook.yaml", webhookFlow)
		if withFlow {
			dir = writeFlow(t, "iam.yaml", awsIAMFlow)
		}
		props := &LatchStackProps{
			StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}},
			LambdaDir:  lambdas, FlowsDir: dir,
			CrossAccountRoleArns: map[string][]string{"aws_iam": {testRole}},
		}
		st, err := NewLatchStack(app, map[bool]string{true: "IAM", false: "NoIAMFlow"}[withFlow], props)
		if err != nil {
			t.Fatal(err)
		}
		stacks[withFlow] = st
	}
	app.Synth(nil)
	for withFlow, st := range stacks {
		tp := toTmpl(t, assertions.Template_FromStack(st.Stack, nil))
		if _, ok := st.Functions.Escalators["aws_iam"]; !ok {
			t.Fatal("no escalator function for aws_iam")
		}
		want := permissions{}
		grant(want, []string{"EscalatorAwsIamLogs.Arn"}, logWrite...)
		grant(want, tableRW, tableActions...)
		grant(want, []string{"IntegrationSecrets"}, "secretsmanager:GetSecretValue")
		grant(want, []string{"Events.Arn"}, "sqs:SendMessage") // its reports
		grant(want, []string{testRole}, "sts:AssumeRole")
		grant(want, []string{"arn:aws:iam::" + testAccount + ":group/*"}, "iam:GetGroup", "iam:RemoveUserFromGroup")
		grant(want, []string{"arn:aws:iam::" + testAccount + ":user/*"}, "iam:ListGroupsForUser")
		if withFlow {
			grant(want, []string{"arn:aws:iam::" + testAccount + ":group/*"}, "iam:AddUserToGroup")
		}
		got := tp.rolePermissions(t)
		if diff := cmp.Diff(want, got["EscalatorAwsIamRole"]); diff != "" {
			t.Errorf("with an aws_iam flow %v: aws_iam escalator role (-want +got):\n%s", withFlow, diff)
		}
		// The reconciler checks and repairs aws_iam targets (drift): it
		// gains the same IAM actions and cross-account roles.
		for _, a := range []string{"iam:AddUserToGroup", "iam:GetGroup", "iam:RemoveUserFromGroup", "iam:ListGroupsForUser", "sts:AssumeRole"} {
			if diff := cmp.Diff(want[a], got["ReconcilerRole"][a]); diff != "" {
				t.Errorf("with an aws_iam flow %v: reconciler role, %s (-want +got):\n%s", withFlow, a, diff)
			}
		}
		// The webhook escalator gains nothing of aws_iam's.
		for action := range got["EscalatorWebhookRole"] {
			if action[:4] == "iam:" || action == "sts:AssumeRole" {
				t.Errorf("the webhook escalator's role holds %s", action)
			}
		}
		fn := tp.one(t, "EscalatorAwsIam")
		env := fn.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env[envStrategy] != "aws_iam" {
			t.Errorf("LATCH_STRATEGY = %v, want aws_iam", env[envStrategy])
		}
	}
}
