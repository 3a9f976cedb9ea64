// Package awssso is the aws_sso strategy type: its settings' check and its
// escalator (pkg/escalator/awssso). A program links it to escalate with aws_sso
// (functions/escalator-aws_sso, and every type in package strategies).
package awssso

import (
	"context"
	"net/http"

	escalator "github.com/latchhq/latch/pkg/escalator/awssso"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

// Strategy is the aws_sso strategy: it calls AWS with the SDK's own HTTP
// client (it honours AWS_CA_BUNDLE).
var Strategy = strategy.Strategy{Type: escalator.Type, Validate: escalator.ValidateConfig, Timeout: escalator.MaxTimeout, Validates: true,
	New: func(config map[string]any, _ func(string) (string, bool), _ *http.Client) (latch.Escalator, error) {
		return escalator.New(context.Background(), config)
	}}
