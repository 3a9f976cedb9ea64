package policy

import (
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
