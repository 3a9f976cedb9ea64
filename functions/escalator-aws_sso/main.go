// Command escalator-aws_sso grants and revokes access for flows of the
// aws_sso strategy (IAM Identity Center account assignments and identity
// store group memberships): the grant state machine's escalate and revoke
// tasks. The wiring is the webhook escalator's with its own LATCH_STRATEGY;
// its role holds only the actions of docs/strategies/aws_sso.md.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/policy"
	"github.com/latchhq/latch/pkg/strategies/awssso"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	env.Rules = policy.Lazy{}                      // flows' identity rules find grantees' identities
	env.Strategies = strategy.Set{awssso.Strategy} // its own strategy only
	h, err := boot.Escalator(ctx, env, awssso.Strategy.Type)
	boot.Must(env, err)
	lambda.Start(h.Handle)
}
