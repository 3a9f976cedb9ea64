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

// TestAWSIAMEscalatorRole: a deployment whose flows use the aws_iam strategy
// has its escalator function, whose role holds only the four IAM actions of
// the strategy (on the account's groups and users) and sts:AssumeRole on
// the cross-account roles listed for it, besides what every escalator has.
// (Without an aws_iam flow it holds none of them: TestStack, "roles".)
func TestAWSIAMEscalatorRole(t *testing.T) {
	app, _ := newTestApp(t)
	lambdas := lambdaDir(t)
	props := &LatchStackProps{
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}},
		LambdaDir:  lambdas, FlowsDir: writeFlow(t, "iam.yaml", awsIAMFlow),
		CrossAccountRoleArns: map[string][]string{"aws_iam": {testRole}},
	}
	st, err := NewLatchStack(app, "IAM", props)
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
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
	grant(want, []string{"arn:aws:iam::" + testAccount + ":group/*"}, "iam:AddUserToGroup", "iam:GetGroup", "iam:RemoveUserFromGroup")
	grant(want, []string{"arn:aws:iam::" + testAccount + ":user/*"}, "iam:ListGroupsForUser")
	got := tp.rolePermissions(t)
	if diff := cmp.Diff(want, got["EscalatorAwsIamRole"]); diff != "" {
		t.Errorf("aws_iam escalator role (-want +got):\n%s", diff)
	}
	// The reconciler checks and repairs aws_iam targets (drift): it gains the
	// same IAM actions and cross-account roles.
	for _, a := range []string{"iam:AddUserToGroup", "iam:GetGroup", "iam:RemoveUserFromGroup", "iam:ListGroupsForUser", "sts:AssumeRole"} {
		if diff := cmp.Diff(want[a], got["ReconcilerRole"][a]); diff != "" {
			t.Errorf("reconciler role, %s (-want +got):\n%s", a, diff)
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
