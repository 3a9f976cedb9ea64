// Command api is the API ingress function: Latch's /v1 API through API
// Gateway, served by the same handler as latch server. Reads come straight
// from DynamoDB; new requests and commands go to the events queue.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/apigw"
)

func main() {
	ctx := context.Background()
	env, parts := boot.StartParts(ctx)
	queue, err := env.Queue()
	boot.Must(env, err)
	eng, err := parts.EdgeEngine()
	boot.Must(env, err)
	// Built again when the admin token (or the Slack bot token, for
	// user_id) is rotated.
	live := parts.API(eng, queue, queue.PublishCreate)
	_, err = live.Get(ctx)
	boot.Must(env, err)
	lambda.Start(apigw.HandlerWithLog(boot.Serve(live), env.Log))
}
