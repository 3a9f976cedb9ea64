// Command escalator-webhook grants and revokes access for flows of the
// webhook strategy: the grant state machine's escalate and revoke tasks.
// Every strategy's escalator function is this wiring with its own
// LATCH_STRATEGY.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	h, err := boot.Escalator(ctx, env, "webhook")
	boot.Must(env, err)
	lambda.Start(h.Handle)
}
