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
// rules link CEL (about 6 MiB) and stay above it, and the escalators and
// the reconciler link every strategy (Env.Strategies). docs/benchmarks.md
// says what each links and why. A function that grows past its budget
// fails here: find what it links with `go version -m` and `go list -deps`,
// and keep it out, or raise the budget and say why there.
var sizeBudgets = map[string]map[string]float64{
	"arm64": {
		"audit":      11,
		"granttasks": 11.7,
		// Every strategy's escalator and client, for the drift check.
		"reconciler": 15,
		// CEL: approval, visible_to and auto_approve rules; bots' rules.
		"api":       18.6,
		"slack":     18.1,
		"approvals": 18.6,
		// CEL: flows' identity rules find grantees' identities; and every
		// strategy (the registry).
		"escalator-aws_iam":    19.8,
		"escalator-aws_lambda": 19.8,
		"escalator-aws_sso":    19.8,
		"escalator-github":     19.8,
		"escalator-okta":       19.8,
		"escalator-tailscale":  19.8,
		"escalator-webhook":    19.8,
	},
	"amd64": {
		"audit":                11.6,
		"granttasks":           12.4,
		"reconciler":           16.25,
		"api":                  20,
		"slack":                19.4,
		"approvals":            19.9,
		"escalator-aws_iam":    21.2,
		"escalator-aws_lambda": 21.2,
		"escalator-aws_sso":    21.2,
		"escalator-github":     21.2,
		"escalator-okta":       21.2,
		"escalator-tailscale":  21.2,
		"escalator-webhook":    21.2,
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
