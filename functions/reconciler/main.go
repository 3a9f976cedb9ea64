// Command reconciler runs every minute (an EventBridge schedule): it sends
// the expiry of pending requests past their deadline (the AWS scheduler),
// carries out outbox effects left behind, and sets overdue revokes and
// stuck grants going again.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/events"
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
		Overdue: reconcile.EMF(os.Stdout, "Latch", nil)}
	lambda.Start(func(ctx context.Context, ev events.EventBridgeEvent) (reconcile.Report, error) {
		rep, err := rc.Run(ctx)
		env.Log.InfoContext(ctx, "reconciled", "schedule", ev.ID, "expired", rep.Swept, "effects", rep.Effects,
			"overdue_revokes", rep.OverdueRevokes, "redriven", rep.Redriven, "revokes_overdue", rep.Overdue)
		if err != nil {
			return rep, fmt.Errorf("reconcile: %w", err)
		}
		return rep, nil
	})
}
