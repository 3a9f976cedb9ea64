// Command reconciler runs every minute (an EventBridge schedule): it sends
// the expiry of pending requests past their deadline (the AWS scheduler),
// carries out outbox effects left behind, and sets overdue revokes and
// stuck grants going again, and repairs drift: targets that differ from the
// grants Latch made (reconcile.Drift).
package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
	"github.com/latchhq/latch/pkg/strategies"
)

func main() {
	ctx := context.Background()
	env, parts := boot.StartParts(ctx)
	if parts.Queue == nil {
		boot.Must(env, errors.New("LATCH_EVENTS_QUEUE_URL is not set"))
	}
	core, err := parts.Core(ctx)
	boot.Must(env, err)
	// The drift check calls the targets of strategies that can check
	// (aws_iam) with this function's own role, which holds their actions.
	var notifier latch.Notifier
	if core.Slack != nil {
		notifier = core.Slack
	}
	drift := &reconcile.Drift{Store: parts.Store, Flows: parts.Flows, Escalator: (&strategies.Escalators{}).For,
		Notifier: notifier, Log: env.Log}
	rc := &reconcile.Reconciler{Store: parts.Store, Queue: parts.Queue, Runner: core.Runner, Outbox: core.Engine,
		Expiries: core.Expiries, Log: env.Log, Drift: drift,
		// The revoke's last error, recorded by the revoke task beside the
		// Hold's token, goes into revoke_overdue.
		RevokeErrors: parts.Store,
		// One CloudWatch embedded-metric line per overdue revoke per run:
		// the RevokeOverdue metric an alarm watches.
		Overdue: reconcile.EMF(os.Stdout, boot.MetricsNamespace, nil)}
	lambda.Start(boot.Reconcile(rc.Run, env.Log, os.Stdout, time.Now))
}
