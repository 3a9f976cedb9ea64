package strategies

import (
	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
)

// Registry is this build's strategies as the Lambda functions' wiring
// takes them (functions/internal/boot, Env.Strategies): only the functions
// that escalate or check grants link the strategies' packages.
type Registry struct{}

// Has reports whether typ is a strategy of this build.
func (Registry) Has(typ string) bool {
	_, ok := Get(typ)
	return ok
}

// FlowOptions is FlowOptions() (every strategy of this build).
func (Registry) FlowOptions() flows.Options { return FlowOptions() }

// Escalators returns the escalator of each flow, built on first use with
// the secrets lookupEnv finds (Escalators.For).
func (Registry) Escalators(lookupEnv func(string) (string, bool)) func(*latch.Flow) (latch.Escalator, error) {
	return (&Escalators{LookupEnv: lookupEnv}).For
}
