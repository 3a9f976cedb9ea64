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
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
	"github.com/latchhq/latch/pkg/strategies/awsiam"
	"github.com/latchhq/latch/pkg/strategies/awssso"
	"github.com/latchhq/latch/pkg/strategies/github"
	"github.com/latchhq/latch/pkg/strategies/okta"
	"github.com/latchhq/latch/pkg/strategies/strategy"
	"github.com/latchhq/latch/pkg/strategies/tailscale"
)

func main() {
	ctx := context.Background()
	env := boot.Start(ctx)
	// The drift check calls the targets of the strategies that can check
	// (latch.Checker) and links only those: a grant of another strategy
	// (webhook, aws_lambda) is not checked, as before.
	env.Strategies = strategy.Set{awsiam.Strategy, awssso.Strategy, github.Strategy, okta.Strategy, tailscale.Strategy}
	parts, err := env.Parts(ctx) // it evaluates no rule: CEL is not linked (env.Rules)
	boot.Must(env, err)
	if parts.Queue == nil {
		boot.Must(env, errors.New("LATCH_EVENTS_QUEUE_URL is not set"))
	}
	core, err := parts.Core(ctx)
	boot.Must(env, err)
	// The drift check calls the targets of strategies that can check
	// (aws_iam, aws_sso) with this function's own role, which holds their
	// actions, and (github, okta, tailscale) with the token the flow names, read from the
	// integrations secret.
	var notifier latch.Notifier
	if core.Slack != nil {
		notifier = core.Slack
	}
	escalators, err := boot.Escalators(ctx, env)
	boot.Must(env, err)
	drift := &reconcile.Drift{Store: parts.Store, Flows: parts.Flows, Escalator: escalators,
		Notifier: notifier, Log: env.Log}
	rc := &reconcile.Reconciler{Store: parts.Store, Queue: parts.Queue, Runner: core.Runner, Outbox: core.Engine,
		Expiries: core.Expiries, Log: env.Log, Drift: drift,
		// The revoke's last error, recorded by the revoke task beside the
		// Hold's token, goes into revoke_overdue.
		RevokeErrors: parts.Store,
		// One CloudWatch embedded-metric line per overdue revoke per run:
		// the RevokeOverdue metric an alarm watches.
		Overdue: reconcile.EMF(os.Stdout, boot.MetricsNamespace, nil)}
	// Break glasses nobody reviewed in time: alerted through the engine
	// (audit, Slack), logged, and counted as BreakGlassReviewOverdue.
	rc.Flows = parts.Flows
	rc.ReviewOverdue = reconcile.EMFReview(os.Stdout, boot.MetricsNamespace, nil)
	// Once per execution environment, on its first run (not at start: no
	// call the first answer can do without), the grants an earlier version
	// left failed at the revoke are named.
	var once sync.Once
	run := func(ctx context.Context) (reconcile.Report, error) {
		once.Do(func() {
			if err := reconcile.WarnFailedRevokes(ctx, parts.Store, env.Log); err != nil {
				env.Log.ErrorContext(ctx, "the grants failed at the revoke cannot be listed", "err", err)
			}
		})
		return rc.Run(ctx)
	}
	lambda.Start(boot.Reconcile(run, env.Log, os.Stdout, time.Now))
}
