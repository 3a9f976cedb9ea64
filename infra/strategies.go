package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	latchstrategies "github.com/latchhq/latch/pkg/strategies"
)

// escalatorTimeout is the timeout of a strategy's escalator function: the
// longest call the strategy makes, and a minute's margin.
func escalatorTimeout(strategy string) time.Duration {
	s, _ := latchstrategies.Get(strategy)
	return s.Timeout + time.Minute
}

func strategyNames() []string { return latchstrategies.Types() }

// warnUndeployedStrategies warns, at synth, about the strategies of this
// build that the deployment leaves out (latch:strategies). A strategy taken
// out of a deployment loses its escalator function, and grants made under it
// that are still open could not be revoked (the reconciler reports them as
// revoke_overdue); synth cannot see the table, so it warns instead of
// checking.
func warnUndeployedStrategies(w io.Writer, deployed []string) {
	for _, s := range latchstrategies.Types() {
		if !slices.Contains(deployed, s) {
			fmt.Fprintf(w, "latch infra: warning: strategy %q is not deployed (latch:strategies); if it was before, "+
				"keep it until its open grants have ended: a grant whose strategy has no escalator function cannot be revoked\n", s)
		}
	}
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
	fnReconciler = "reconciler"
)

// functionNames lists every function a deployment with these strategies has.
func functionNames(strategies []string) []string {
	names := []string{fnSlack, fnAPI, fnApprovals, fnGrantTasks}
	for _, s := range strategies {
		names = append(names, escalatorName(s))
	}
	return append(names, fnAudit, fnReconciler)
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
