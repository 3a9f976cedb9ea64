// Package github is the github strategy type: its settings' check and its
// escalator (pkg/escalator/github). A program links it to escalate with github
// (functions/escalator-github, and every type in package strategies).
package github

import (
	"net/http"

	escalator "github.com/latchhq/latch/pkg/escalator/github"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

// Strategy is the github strategy: it calls out with the client it is given.
var Strategy = strategy.Strategy{Type: escalator.Type, Validate: escalator.ValidateConfig, Timeout: escalator.Timeout, Validates: true,
	New: func(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client) (latch.Escalator, error) {
		return escalator.New(config, lookupEnv, client)
	}}
