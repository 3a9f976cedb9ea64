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

// noteIgnoredStrategies notes, at synth, that the context latch:strategies
// (set: given) of earlier versions is ignored. Every strategy of this build
// gets its escalator function, so that no deployment can take away the
// function that revokes a strategy's open grants; a function costs nothing
// while it is idle, and its role has the actions of its strategy's revokes
// always, those of its grants only while a flow uses the strategy
// (escalatorPolicies, usedStrategies).
func noteIgnoredStrategies(w io.Writer, set bool) {
	if set {
		fmt.Fprintf(w, "latch infra: note: latch:strategies is ignored: every strategy of this build (%s) has its escalator function\n",
			strings.Join(strategyNames(), ", "))
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
