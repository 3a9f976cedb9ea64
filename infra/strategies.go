package main

import (
	"slices"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/escalator/webhook"
	"github.com/latchhq/latch/pkg/latch"
)

// strategy is what the stack knows of one strategy type: how to check a
// flow's strategy block at synth, and what its escalator function needs.
type strategy struct {
	// validate checks a flow's strategy settings (flows.Options.Strategies).
	validate func(config map[string]any, targets []latch.Target) error
	// timeout of the escalator function: the longest call the strategy may
	// make, and a margin.
	timeout time.Duration
}

// knownStrategies are the strategy types this build can deploy. The webhook
// escalator calls the customer's URL: it needs no AWS permission beyond
// reading its secret. A strategy that calls AWS adds its statements here.
var knownStrategies = map[string]strategy{
	webhook.Type: {validate: webhook.ValidateConfig, timeout: webhook.MaxTimeout + time.Minute},
}

func strategyNames() []string {
	return sortedKeys(knownStrategies)
}

// escalatorName is the function (and functions/ folder) of a strategy.
func escalatorName(strategy string) string {
	return "escalator-" + strategy
}

// Function names, as folders under functions/ and under the Lambda dir.
const (
	fnSlack      = "slack"
	fnAPI        = "api"
	fnApprovals  = "approvals"
	fnGrantTasks = "granttasks"
	fnAudit      = "audit"
)

// functionNames lists every function a deployment with these strategies has.
func functionNames(strategies []string) []string {
	names := []string{fnSlack, fnAPI, fnApprovals, fnGrantTasks}
	for _, s := range strategies {
		names = append(names, escalatorName(s))
	}
	return append(names, fnAudit)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// camel turns "aws_iam" or "escalator-webhook" into "AwsIam" or
// "EscalatorWebhook", for construct ids and output names.
func camel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '_' || r == '-' {
			up = true
			continue
		}
		if up {
			r = []rune(strings.ToUpper(string(r)))[0]
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
