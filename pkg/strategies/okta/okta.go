// Package okta is the okta strategy type: its settings' check and its
// escalator (pkg/escalator/okta). A program links it to escalate with okta
// (functions/escalator-okta, and every type in package strategies).
package okta

import (
	"net/http"

	escalator "github.com/latchhq/latch/pkg/escalator/okta"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

// Strategy is the okta strategy: it reads its API token (or service app
// key) with lookupEnv (on AWS, from the integrations secret) and calls out
// with the client it is given.
var Strategy = strategy.Strategy{Type: escalator.Type, Validate: escalator.ValidateConfig, Timeout: escalator.Timeout, Validates: true,
	New: func(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client) (latch.Escalator, error) {
		return escalator.New(config, lookupEnv, client)
	}}
