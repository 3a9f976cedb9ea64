// Command reconciler runs every minute (an EventBridge schedule): it sends
// the expiry of pending requests past their deadline (the AWS scheduler),
// carries out outbox effects left behind, and sets overdue revokes and
// stuck grants going again.
package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/reconcile"
)

func main() {
	ctx := context.Background()
	env, parts := boot.StartParts(ctx)
	if parts.Queue == nil {
		boot.Must(env, errors.New("LATCH_EVENTS_QUEUE_URL is not set"))
	}
	core, err := parts.Core(ctx)
	boot.Must(env, err)
	rc := &reconcile.Reconciler{Store: parts.Store, Queue: parts.Queue, Runner: core.Runner, Outbox: core.Engine,
		Expiries: core.Expiries, Log: env.Log,
		// One CloudWatch embedded-metric line per overdue revoke per run:
		// the RevokeOverdue metric an alarm watches.
		Overdue: reconcile.EMF(os.Stdout, boot.MetricsNamespace, nil)}
	lambda.Start(boot.Reconcile(rc.Run, env.Log, os.Stdout, time.Now))
}
