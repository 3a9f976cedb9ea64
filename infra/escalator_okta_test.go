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

// TestOktaEscalatorRole: a deployment with the okta strategy (and its
// example flow) has an escalator function whose role holds what every
// escalator has and nothing more: Okta is called with the token the flow
// names, read from the integrations secret its environment points to. The
// reconciler, which checks okta targets for drift, reads the same secret
// and gains no AWS action for okta.
func TestOktaEscalatorRole(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("flows", "examples", "okta.yaml")) // TestMain runs from the module root
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFlow(t, "okta.yaml", string(src))
	app, _ := newTestApp(t)
	strategies := []string{"webhook", "okta"}
	stack, err := NewLatchStack(app, "Okta", &LatchStackProps{LambdaDir: lambdaDir(t, strategies...), FlowsDir: dir,
		Strategies: strategies,
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}}})
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	tp := toTmpl(t, assertions.Template_FromStack(stack.Stack, nil))
	got := tp.rolePermissions(t)

	if _, ok := stack.Functions.Escalators["okta"]; !ok {
		t.Fatal("no escalator function for okta")
	}
	want := permissions{}
	grant(want, []string{"EscalatorOktaLogs.Arn"}, logWrite...)
	grant(want, tableRW, tableActions...)
	grant(want, []string{"IntegrationSecrets"}, "secretsmanager:GetSecretValue")
	grant(want, []string{"Events.Arn"}, "sqs:SendMessage") // its reports
	if diff := cmp.Diff(want, got["EscalatorOktaRole"]); diff != "" {
		t.Errorf("escalator-okta's role (-want +got):\n%s", diff)
	}
	env := tp.one(t, "EscalatorOkta").Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env[envStrategy] != "okta" {
		t.Errorf("LATCH_STRATEGY = %v, want okta", env[envStrategy])
	}
	for _, v := range []string{envStrategySecrets, envHooksSecretsArn} {
		if expr(env[v]) != "IntegrationSecrets" {
			t.Errorf("%s = %v, want the integrations secret (where OKTA_API_TOKEN is kept)", v, env[v])
		}
	}
	rec := tp.one(t, "Reconciler").Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if expr(rec[envHooksSecretsArn]) != "IntegrationSecrets" {
		t.Errorf("the reconciler's %s = %v, want the integrations secret", envHooksSecretsArn, rec[envHooksSecretsArn])
	}
	if _, ok := got["ReconcilerRole"]["secretsmanager:GetSecretValue"]; !ok {
		t.Error("the reconciler cannot read the integrations secret")
	}
	// The state machine invokes the new escalator (and every other).
	if sm := got["GrantsRole"]["lambda:InvokeFunction"]; !slices.Contains(sm, "EscalatorOkta.Arn") {
		t.Errorf("the state machine invokes %v", sm)
	}
}
