// Package awsiam is the aws_iam strategy type: its settings' check and its
// escalator (pkg/escalator/awsiam). A program links it to escalate with aws_iam
// (functions/escalator-aws_iam, and every type in package strategies).
package awsiam

import (
	"context"
	"net/http"

	escalator "github.com/latchhq/latch/pkg/escalator/awsiam"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

// Strategy is the aws_iam strategy: it calls AWS with the SDK's own HTTP
// client (it honours AWS_CA_BUNDLE).
var Strategy = strategy.Strategy{Type: escalator.Type, Validate: escalator.ValidateConfig, Timeout: escalator.Timeout, Validates: true,
	New: func(config map[string]any, _ func(string) (string, bool), _ *http.Client) (latch.Escalator, error) {
		return escalator.New(context.Background(), config)
	}}
