// Package awslambda is the aws_lambda strategy type: its settings' check and its
// escalator (pkg/escalator/awslambda). A program links it to escalate with aws_lambda
// (functions/escalator-aws_lambda, and every type in package strategies).
package awslambda

import (
	"context"
	"net/http"

	escalator "github.com/latchhq/latch/pkg/escalator/awslambda"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

// Strategy is the aws_lambda strategy: it invokes the function with the
// SDK's own HTTP client (it honours AWS_CA_BUNDLE).
var Strategy = strategy.Strategy{Type: escalator.Type, Validate: escalator.ValidateConfig, Timeout: escalator.Timeout,
	New: func(config map[string]any, _ func(string) (string, bool), _ *http.Client) (latch.Escalator, error) {
		return escalator.New(context.Background(), config)
	}}
