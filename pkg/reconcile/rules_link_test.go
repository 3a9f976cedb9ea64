package reconcile_test

// The flows of these tests have rules: they are compiled as in every
// program that links package policy (flows.DefaultRules).
import _ "github.com/latchhq/latch/pkg/policy"
