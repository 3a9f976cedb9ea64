package main

import (
	"slices"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"
)

// TestTailscaleEscalatorRole: a deployment with the tailscale strategy has
// its escalator function, which calls the Tailscale API with a credential
// from the integrations secret: its role holds what every escalator has
// (its log group, the table, the integrations secret) and no AWS action of
// the strategy's own. The reconciler, which checks tailscale grants for
// drift, reads the same secret.
func TestTailscaleEscalatorRole(t *testing.T) {
	app, _ := newTestApp(t)
	lambdas := lambdaDir(t, "webhook", "tailscale")
	props := &LatchStackProps{
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}},
		LambdaDir:  lambdas, FlowsDir: "flows", Strategies: []string{"webhook", "tailscale"},
	}
	st, err := NewLatchStack(app, "Tailscale", props)
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	tp := toTmpl(t, assertions.Template_FromStack(st.Stack, nil))

	if _, ok := st.Functions.Escalators["tailscale"]; !ok {
		t.Fatal("no escalator function for tailscale")
	}
	want := permissions{}
	grant(want, []string{"EscalatorTailscaleLogs.Arn"}, logWrite...)
	grant(want, tableRW, tableActions...)
	grant(want, []string{"IntegrationSecrets"}, "secretsmanager:GetSecretValue")
	grant(want, []string{"Events.Arn"}, "sqs:SendMessage") // its reports
	got := tp.rolePermissions(t)
	if diff := cmp.Diff(want, got["EscalatorTailscaleRole"]); diff != "" {
		t.Errorf("tailscale escalator role (-want +got):\n%s", diff)
	}
	if !slices.Contains(got["ReconcilerRole"]["secretsmanager:GetSecretValue"], "IntegrationSecrets") {
		t.Errorf("the reconciler cannot read the integrations secret: %v", got["ReconcilerRole"]["secretsmanager:GetSecretValue"])
	}
	fn := tp.one(t, "EscalatorTailscale")
	env := fn.Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env[envStrategy] != "tailscale" {
		t.Errorf("LATCH_STRATEGY = %v, want tailscale", env[envStrategy])
	}
	if env[envStrategySecrets] == nil {
		t.Errorf("no %s: the function cannot read the flow's token", envStrategySecrets)
	}
}
