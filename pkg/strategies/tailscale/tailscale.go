// Package tailscale is the tailscale strategy type: its settings' check and its
// escalator (pkg/escalator/tailscale). A program links it to escalate with tailscale
// (functions/escalator-tailscale, and every type in package strategies).
package tailscale

import (
	"net/http"

	escalator "github.com/latchhq/latch/pkg/escalator/tailscale"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

// Strategy is the tailscale strategy: it calls out with the client it is given.
var Strategy = strategy.Strategy{Type: escalator.Type, Validate: escalator.ValidateConfig, Timeout: escalator.Timeout, Validates: true,
	New: func(config map[string]any, lookupEnv func(string) (string, bool), client *http.Client) (latch.Escalator, error) {
		return escalator.New(config, lookupEnv, client)
	}}
