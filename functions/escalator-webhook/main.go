// Command escalator-webhook grants and revokes access for flows of the
// webhook strategy: the grant state machine's escalate and revoke tasks.
// Every strategy's escalator function is this wiring with its own
// LATCH_STRATEGY.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/policy"
	"github.com/latchhq/latch/pkg/strategies/strategy"
	"github.com/latchhq/latch/pkg/strategies/webhook"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	env.Rules = policy.Lazy{}                       // flows' identity rules find grantees' identities
	env.Strategies = strategy.Set{webhook.Strategy} // its own strategy only
	h, err := boot.Escalator(ctx, env, webhook.Strategy.Type)
	boot.Must(env, err)
	lambda.Start(h.Handle)
}
