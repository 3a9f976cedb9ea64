// Package webhook is the webhook strategy type: its settings' check and its
// escalator (pkg/escalator/webhook). A program links it to escalate with webhook
// (functions/escalator-webhook, and every type in package strategies).
package webhook

import (
	"net/http"

	escalator "github.com/latchhq/latch/pkg/escalator/webhook"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

// Strategy is the webhook strategy: it calls out with the client it is given.
var Strategy = strategy.Strategy{Type: escalator.Type, Validate: escalator.ValidateConfig, Timeout: escalator.MaxTimeout,
	New: func(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client) (latch.Escalator, error) {
		return escalator.New(config, lookupEnv, client)
	}}
