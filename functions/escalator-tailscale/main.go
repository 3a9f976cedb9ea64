// Command escalator-tailscale grants and revokes access for flows of the
// tailscale strategy (a login in a group of the tailnet policy file): the
// grant state machine's escalate and revoke tasks. It calls the Tailscale
// API with the flow's API access token or OAuth client secret, read from
// the integrations secret (token_env, client_secret_env); its role holds no
// AWS permission beyond what every escalator has.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/policy"
	"github.com/latchhq/latch/pkg/strategies/strategy"
	"github.com/latchhq/latch/pkg/strategies/tailscale"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	env.Rules = policy.Lazy{}                         // flows' identity rules find grantees' identities
	env.Strategies = strategy.Set{tailscale.Strategy} // its own strategy only
	h, err := boot.Escalator(ctx, env, tailscale.Strategy.Type)
	boot.Must(env, err)
	lambda.Start(h.Handle)
}
