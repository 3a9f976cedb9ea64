// Command escalator-github grants and revokes access for flows of the
// github strategy (repository collaborators, team members): the grant state
// machine's escalate and revoke tasks. Its role holds no AWS permission
// beyond what every escalator has (the table, and the integrations secret,
// which holds the GitHub token or the GitHub App's private key); GitHub's
// own permissions are those of the token or App (docs/strategies/github.md).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/policy"
	"github.com/latchhq/latch/pkg/strategies/github"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	env.Rules = policy.Lazy{}                      // flows' identity rules find grantees' identities
	env.Strategies = strategy.Set{github.Strategy} // its own strategy only
	h, err := boot.Escalator(ctx, env, github.Strategy.Type)
	boot.Must(env, err)
	lambda.Start(h.Handle)
}
