package flows

import (
	"errors"

	"github.com/latchhq/latch/pkg/latch"
)

// RuleCompiler compiles the CEL rules of flow files: approval rules,
// visible_to and auto_approve (CompileRule), and identity rules
// (CompileIdentityRule). Package policy's Compiler is the one Latch uses;
// an error that is a RuleError is reported at the rule's line and column.
//
// It is injected rather than imported so that programs that evaluate no
// rule (the audit, grant task and reconciler functions) parse flows without
// linking CEL.
type RuleCompiler interface {
	CompileRule(src string) (latch.Rule, error)
	CompileIdentityRule(src string) (latch.IdentityRule, error)
}

// RuleError is a compile error that says where in the rule's source the
// problem is: line and column 1-based (0 when unknown), and the reason on
// one line. policy.CompileError is one.
type RuleError interface {
	error
	RulePosition() (line, column int, reason string)
}

// onCallKey is the boolean rules see beside approver's and requester's keys
// (policy.OnCallKey).
const onCallKey = "on_call"

// DefaultRules compiles rules when Options.Rules is nil. Package policy sets
// it to its Compiler when it is linked into a program, so that every
// program that can evaluate rules compiles them by default.
var DefaultRules RuleCompiler

// Uncompiled keeps each rule's source but compiles nothing: every rule's
// Eval fails with ErrRuleNotCompiled, so a program that reads flows only for
// their shape can never decide anything by a rule it did not compile. It is
// what Load uses when neither Options.Rules nor DefaultRules is set. Rules
// are not checked: use it only for flows already validated (at cdk synth).
var Uncompiled RuleCompiler = uncompiled{}

// ErrRuleNotCompiled is the error of the rules Uncompiled gives.
var ErrRuleNotCompiled = errors.New("this program does not evaluate flow rules: the rule was not compiled")

type uncompiled struct{}

func (uncompiled) CompileRule(string) (latch.Rule, error) { return uncompiledRule{}, nil }
func (uncompiled) CompileIdentityRule(string) (latch.IdentityRule, error) {
	return uncompiledIdentityRule{}, nil
}

type uncompiledRule struct{}

func (uncompiledRule) Eval(latch.RuleVars) (bool, error) { return false, ErrRuleNotCompiled }

type uncompiledIdentityRule struct{}

func (uncompiledIdentityRule) Eval(*latch.User) (string, error) { return "", ErrRuleNotCompiled }

// rules is the compiler of opts.
func (opts Options) rules() RuleCompiler {
	switch {
	case opts.Rules != nil:
		return opts.Rules
	case DefaultRules != nil:
		return DefaultRules
	}
	return Uncompiled
}
