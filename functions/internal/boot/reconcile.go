package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchhq/latch/pkg/reconcile"
)

// MetricsNamespace is the CloudWatch namespace of Latch's own metrics.
const MetricsNamespace = "Latch"

// Reconcile is the reconciler function's handler: one run of run per
// scheduled event. A run whose corrections partly fail does not fail the
// invocation (the next run, a minute later, tries again, and Lambda's own
// retries would only overlap the schedule): each failure is logged at ERROR
// and the run's counts, failures among them, go to metrics as a CloudWatch
// embedded metric format line on metrics (the function's log, standard
// output in Lambda). The alarm ReconcileFailures watches them.
func Reconcile(run func(context.Context) (reconcile.Report, error), log *slog.Logger, metrics io.Writer, now func() time.Time) func(context.Context, events.EventBridgeEvent) (reconcile.Report, error) {
	return func(ctx context.Context, ev events.EventBridgeEvent) (reconcile.Report, error) {
		rep, err := run(ctx)
		failures := failed(err)
		for _, e := range failures {
			log.ErrorContext(ctx, "a reconciler correction failed; the next run tries again", "schedule", ev.ID, "err", e)
		}
		log.InfoContext(ctx, "reconciled", "schedule", ev.ID, "expired", rep.Swept, "effects", rep.Effects,
			"overdue_revokes", rep.OverdueRevokes, "redriven", rep.Redriven, "failures", len(failures))
		if err := writeEMF(metrics, now(), map[string]int{
			"ReconcileFailures": len(failures), "ReconcileCorrections": rep.Corrections(), "ReconcileEffects": rep.Effects,
		}); err != nil {
			log.WarnContext(ctx, "could not write the reconciler's metrics", "err", err)
		}
		return rep, nil
	}
}

// failed splits a run's joined error into its failures.
func failed(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, failed(e)...)
		}
		return out
	}
	return []error{err}
}

// writeEMF writes one CloudWatch embedded metric format line: counts in
// MetricsNamespace, dimension Function=reconciler.
func writeEMF(w io.Writer, at time.Time, counts map[string]int) error {
	var metrics []map[string]string
	line := map[string]any{"Function": "reconciler"}
	for _, name := range []string{"ReconcileFailures", "ReconcileCorrections", "ReconcileEffects"} {
		if v, ok := counts[name]; ok {
			metrics = append(metrics, map[string]string{"Name": name, "Unit": "Count"})
			line[name] = v
		}
	}
	line["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace": MetricsNamespace, "Dimensions": [][]string{{"Function"}}, "Metrics": metrics,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return errors.Join(errors.New("write metrics"), err)
	}
	return nil
}
