package policy

import (
	"fmt"
	"sync"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
)

// Compiler compiles the rules of flow files (flows.RuleCompiler).
type Compiler struct{}

var _ flows.RuleCompiler = Compiler{}

// CompileRule is CompileRule.
func (Compiler) CompileRule(src string) (latch.Rule, error) { return CompileRule(src) }

// CompileIdentityRule is CompileIdentityRule.
func (Compiler) CompileIdentityRule(src string) (latch.IdentityRule, error) {
	r, err := CompileIdentityRule(src)
	if err != nil {
		return nil, err // never a typed nil in the interface
	}
	return r, nil
}

// A program that links this package compiles flows' rules by default.
func init() {
	if flows.DefaultRules == nil {
		flows.DefaultRules = Compiler{}
	}
}

// Lazy compiles flows' rules on first use rather than when flows load
// (flows.RuleCompiler): the Lambda functions use it, so that a start does
// not pay for CEL's environments and every flow's rules, most of which a
// short-lived function never evaluates. Every rule was compiled when the
// flows were deployed (cdk synth uses Compiler, and refuses a rule that
// does not compile). A rule that still does not compile fails closed each
// time it is evaluated: its Eval returns the *CompileError (wrapped), as a
// rule whose evaluation fails does, so it approves, shows and names nothing.
// Each rule is compiled once; the rules are safe for concurrent use.
type Lazy struct{}

var _ flows.RuleCompiler = Lazy{}

// CompileRule returns the approval rule of src, compiled on its first Eval.
func (Lazy) CompileRule(src string) (latch.Rule, error) {
	return &lazyRule{src: src, rule: sync.OnceValues(func() (latch.Rule, error) { return CompileRule(src) })}, nil
}

// CompileIdentityRule returns the identity rule of src, compiled on its
// first Eval.
func (Lazy) CompileIdentityRule(src string) (latch.IdentityRule, error) {
	return &lazyIdentityRule{src: src, rule: sync.OnceValues(func() (*IdentityRule, error) { return CompileIdentityRule(src) })}, nil
}

type lazyRule struct {
	src  string
	rule func() (latch.Rule, error)
}

// Source returns the rule as written.
func (r *lazyRule) Source() string { return r.src }

func (r *lazyRule) Eval(vars latch.RuleVars) (bool, error) {
	rule, err := r.rule()
	if err != nil {
		return false, fmt.Errorf("evaluate rule: %w", err)
	}
	return rule.Eval(vars)
}

type lazyIdentityRule struct {
	src  string
	rule func() (*IdentityRule, error)
}

// Source returns the rule as written.
func (r *lazyIdentityRule) Source() string { return r.src }

func (r *lazyIdentityRule) Eval(user *latch.User) (string, error) {
	rule, err := r.rule()
	if err != nil {
		return "", fmt.Errorf("evaluate identity rule: %w", err)
	}
	return rule.Eval(user)
}
