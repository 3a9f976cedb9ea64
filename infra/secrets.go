package main

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
)

// secrets are the stack's two Secrets Manager secrets, each a JSON object
// of named values (a secret costs the same whatever it holds, so the values
// are grouped: two secrets instead of one per value). Functions get a
// secret's ARN in an environment variable and read permission on it only
// when they use it; values never appear in the template or in the
// environment.
type secrets struct {
	// App holds the Slack app's signing secret and bot token, which an
	// operator puts after the first deploy (placeholderValue until then:
	// "not configured yet"), and the API's bootstrap admin token, generated
	// by Secrets Manager: {"SLACK_SIGNING_SECRET": ..., "SLACK_BOT_TOKEN":
	// ..., "LATCH_ADMIN_TOKEN": ...}. Read by slack, api, approvals and the
	// reconciler.
	App awssecretsmanager.Secret
	// Integrations holds the secrets flows and destinations name: the
	// hooks' and the strategies' secret_env values, and the audit
	// destinations' keys (auditSecretNames), by name. Read by approvals,
	// the reconciler (hooks), the escalators and audit.
	Integrations awssecretsmanager.Secret
}

// auditSecretNames are the audit destinations' settings that are secrets.
var auditSecretNames = []string{"LATCH_AUDIT_DATADOG_API_KEY", "LATCH_AUDIT_HTTP_SECRET"}

// placeholderValue is the value of a secret the operator has not put yet
// (functions/internal/boot.Placeholder).
const placeholderValue = "REPLACE_ME"

func newSecrets(stack awscdk.Stack) *secrets {
	prefix := *stack.StackName() + "/"
	template, err := json.Marshal(map[string]string{"SLACK_SIGNING_SECRET": placeholderValue, "SLACK_BOT_TOKEN": placeholderValue})
	if err != nil {
		panic(err)
	}
	return &secrets{
		App: awssecretsmanager.NewSecret(stack, jsii.String("AppSecrets"), &awssecretsmanager.SecretProps{
			SecretName: jsii.String(prefix + "app"),
			Description: jsii.String(`Latch: the Slack app's signing secret and bot token (put them), and the API's bootstrap admin ` +
				`token (generated): {"SLACK_SIGNING_SECRET": "...", "SLACK_BOT_TOKEN": "xoxb-...", "LATCH_ADMIN_TOKEN": "..."}`),
			GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
				SecretStringTemplate: jsii.String(string(template)),
				GenerateStringKey:    jsii.String("LATCH_ADMIN_TOKEN"),
				ExcludePunctuation:   jsii.Bool(true),
				PasswordLength:       jsii.Number(48),
			},
		}),
		Integrations: awssecretsmanager.NewSecret(stack, jsii.String("IntegrationSecrets"), &awssecretsmanager.SecretProps{
			SecretName: jsii.String(prefix + "integrations"),
			Description: jsii.String(`Latch: the secrets flows' hooks and strategies name with secret_env, and the audit ` +
				`destinations' keys, by name: {"LATCH_WEBHOOK_SECRET": "...", "LATCH_AUDIT_DATADOG_API_KEY": "..."}`),
			// An empty object, not a secret, until the operator puts one.
			SecretStringValue: awscdk.SecretValue_UnsafePlainText(jsii.String("{}")),
		}),
	}
}
