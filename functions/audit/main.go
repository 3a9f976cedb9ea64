// Command audit ships the audit events of the table's stream to the
// deployment's destinations (Datadog, Firehose, HTTP, its own log).
package main

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/audit/sinks"
	"github.com/latchhq/latch/pkg/audit/streamship"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	lookup, err := env.LookupEnv(ctx, "LATCH_AUDIT_SECRETS_ARN")
	boot.Must(env, err)
	dests, err := sinks.FromEnv(ctx, func(name string) string { v, _ := lookup(name); return v })
	if err == nil && len(dests) == 0 {
		err = errors.New("no audit destination is configured (LATCH_AUDIT_*)")
	}
	boot.Must(env, err)
	env.Log.Info("audit destinations", "destinations", sinks.Names(dests))
	lambda.Start((&streamship.Handler{Sinks: dests, Log: env.Log}).Handle)
}
