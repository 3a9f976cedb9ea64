// Command approvals is the only writer of request state: it consumes the
// events queue (new requests, people's decisions, the grant lifecycle's
// reports), applies each through the engine, and carries out the effects —
// starting grant executions, posting to Slack, calling hooks.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/policy"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

func main() {
	ctx := context.Background()
	env, parts := boot.StartParts(ctx, policy.Lazy{}) // it evaluates approval and auto_approve rules
	core, err := parts.Core(ctx)
	boot.Must(env, err)
	consumer := sqsqueue.NewConsumer(core.Engine, env.Log)
	if core.Slack != nil {
		consumer.CreateRefused = func(ctx context.Context, in engine.CreateInput, refusal error) error {
			return core.Slack.TellRefused(ctx, in.Flow, in.UserEmail, refusal)
		}
	}
	if dl := env.DeadLetters(); dl != nil {
		consumer.MoveAside = dl.Send // poison messages (pkg/sqsqueue, "Poison messages")
	}
	lambda.Start(consumer.Consume)
}
