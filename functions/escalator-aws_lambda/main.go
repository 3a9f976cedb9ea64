// Command escalator-aws_lambda grants and revokes access for flows of the
// aws_lambda strategy (pkg/escalator/awslambda): the grant state machine's
// escalate and revoke tasks, which invoke the customer's function. The
// folder is named after the strategy type as flows write it (escalator-<type>,
// as infra names every escalator function).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/policy"
	"github.com/latchhq/latch/pkg/strategies/awslambda"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	env.Rules = policy.Lazy{}                         // flows' identity rules find grantees' identities
	env.Strategies = strategy.Set{awslambda.Strategy} // its own strategy only
	h, err := boot.Escalator(ctx, env, awslambda.Strategy.Type)
	boot.Must(env, err)
	lambda.Start(h.Handle)
}
