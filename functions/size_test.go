package functions_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// sizeBudgets is each function's bootstrap size limit in MiB, per
// architecture, as the tests build it (build: this machine's architecture,
// -tags lambda.norpc, -trimpath, stripped; arm64 is what `make lambdas`
// builds and Lambda runs, and its binaries are about 7 % smaller than
// amd64's). Each budget is the size measured when it was set and a small
// margin. The goal is 12 MiB (arm64) each; the functions that evaluate flow
// rules link CEL (about 6 MiB) and stay above it, each escalator links its
// own strategy's package and client (pkg/strategies/<type>), and the
// reconciler those of the strategies that can check. docs/benchmarks.md
// says what each links and why. A function that grows past its budget
// fails here: find what it links with `go version -m` and `go list -deps`,
// and keep it out, or raise the budget and say why there.
var sizeBudgets = map[string]map[string]float64{
	"arm64": {
		"audit":      10.5,
		"granttasks": 11.2,
		// The strategies that can check (aws_iam, aws_sso, github, okta,
		// tailscale) and their clients, for the drift check.
		"reconciler": 14.6,
		// CEL: approval, visible_to and auto_approve rules; bots' rules.
		"api":       18.2,
		"slack":     18.3,
		"approvals": 18.2,
		// CEL: flows' identity rules find grantees' identities; and the
		// function's own strategy and its client.
		"escalator-aws_iam":    17.7,
		"escalator-aws_lambda": 17.7,
		"escalator-aws_sso":    17.7,
		"escalator-github":     17.6,
		"escalator-okta":       17.1,
		"escalator-tailscale":  17.2,
		"escalator-webhook":    17,
	},
	"amd64": {
		"audit":                11.2,
		"granttasks":           12,
		"reconciler":           15.8,
		"api":                  19.6,
		"slack":                19.6,
		"approvals":            19.5,
		"escalator-aws_iam":    18.9,
		"escalator-aws_lambda": 18.9,
		"escalator-aws_sso":    19,
		"escalator-github":     18.8,
		"escalator-okta":       18.4,
		"escalator-tailscale":  18.4,
		"escalator-webhook":    18.2,
	},
}

// Every function's binary stays within its budget. It reuses the builds of
// the other tests of this package (build), so it costs CI little more than
// the links of the functions no other test runs.
func TestBinarySizeBudgets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	budgets, ok := sizeBudgets[runtime.GOARCH]
	if !ok {
		t.Skipf("no size budgets for %s: the functions run on arm64 (amd64 is measured too)", runtime.GOARCH)
	}
	mains, err := filepath.Glob("*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mains {
		name := filepath.Dir(m)
		t.Run(name, func(t *testing.T) {
			budget, ok := budgets[name]
			if !ok {
				t.Fatalf("functions/%s has no %s size budget: add one to sizeBudgets", name, runtime.GOARCH)
			}
			st, err := os.Stat(build(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if mib := float64(st.Size()) / (1 << 20); mib > budget {
				t.Errorf("functions/%s's bootstrap is %.2f MiB, over its budget of %.1f MiB", name, mib, budget)
			} else {
				t.Logf("%.2f MiB (budget %.1f MiB)", mib, budget)
			}
		})
	}
	if len(mains) != len(budgets) {
		t.Errorf("%d functions and %d %s budgets: remove the budgets of functions that are gone", len(mains), len(budgets), runtime.GOARCH)
	}
}
