package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"
)

// TestGitHubEscalatorRole: a deployment with the github strategy has its
// escalator function, whose role holds what every escalator has (its log
// group, the table, the integrations secret, which holds the GitHub token or
// App key) and no AWS action besides: GitHub's permissions are the token's.
// The reconciler, which checks github targets for drift with the same
// secret, gains nothing either.
func TestGitHubEscalatorRole(t *testing.T) {
	app, _ := newTestApp(t)
	lambdas := lambdaDir(t, "webhook", "github")
	props := &LatchStackProps{
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}},
		LambdaDir:  lambdas, FlowsDir: "flows", Strategies: []string{"webhook", "github"},
	}
	st, err := NewLatchStack(app, "GitHub", props)
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	tp := toTmpl(t, assertions.Template_FromStack(st.Stack, nil))

	if _, ok := st.Functions.Escalators["github"]; !ok {
		t.Fatal("no escalator function for github")
	}
	want := permissions{}
	grant(want, []string{"EscalatorGithubLogs.Arn"}, logWrite...)
	grant(want, tableRW, tableActions...)
	grant(want, []string{"IntegrationSecrets"}, "secretsmanager:GetSecretValue")
	grant(want, []string{"Events.Arn"}, "sqs:SendMessage") // its reports
	got := tp.rolePermissions(t)
	if diff := cmp.Diff(want, got["EscalatorGithubRole"]); diff != "" {
		t.Errorf("github escalator role (-want +got):\n%s", diff)
	}
	if _, ok := got["ReconcilerRole"]["sts:AssumeRole"]; ok {
		t.Errorf("the reconciler may assume roles in a deployment without AWS target strategies")
	}
	fn := tp.one(t, "EscalatorGithub")
	env := fn.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env[envStrategy] != "github" || env[envStrategySecrets] == nil {
		t.Errorf("environment %v, want LATCH_STRATEGY github and the strategy secrets' ARN", env)
	}
}
