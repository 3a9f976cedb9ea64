// Command escalator-okta grants and revokes access for flows of the okta
// strategy (Okta group membership): the grant state machine's escalate and
// revoke tasks. It calls Okta with the API token (or service app key) the
// flow's token_env (private_key_env) names, read from the integrations
// secret; its role needs no AWS permission beyond what every escalator has.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/policy"
	"github.com/latchhq/latch/pkg/strategies/okta"
	"github.com/latchhq/latch/pkg/strategies/strategy"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	env.Rules = policy.Lazy{}                    // flows' identity rules find grantees' identities
	env.Strategies = strategy.Set{okta.Strategy} // its own strategy only
	h, err := boot.Escalator(ctx, env, okta.Strategy.Type)
	boot.Must(env, err)
	lambda.Start(h.Handle)
}
