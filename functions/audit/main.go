// Command audit ships the audit events of the table's stream to the
// deployment's destinations (Datadog, Firehose, HTTP, its own log).
package main

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/audit/sinks"
	"github.com/latchhq/latch/pkg/audit/streamship"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	// Built again when the audit secret is rotated.
	live := &boot.Live[*streamship.Handler]{Env: env, Secrets: []string{"LATCH_AUDIT_SECRETS_ARN"},
		Build: func(ctx context.Context) (*streamship.Handler, error) {
			lookup, err := env.LookupEnv(ctx, "LATCH_AUDIT_SECRETS_ARN")
			if err != nil {
				return nil, err
			}
			dests, err := sinks.FromEnv(ctx, func(name string) string { v, _ := lookup(name); return v })
			if err == nil && len(dests) == 0 {
				err = errors.New("no audit destination is configured (LATCH_AUDIT_*)")
			}
			if err != nil {
				return nil, err
			}
			env.Log.InfoContext(ctx, "audit destinations", "destinations", sinks.Names(dests))
			return &streamship.Handler{Sinks: dests, Log: env.Log}, nil
		}}
	_, err := live.Get(ctx)
	boot.Must(env, err)
	lambda.Start(func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		h, err := live.Get(ctx)
		if err != nil {
			return events.DynamoDBEventResponse{}, err
		}
		return h.Handle(ctx, ev)
	})
}
