package boot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/reconcile"
)

// A run with failed corrections does not fail the invocation (Lambda would
// retry it, overlapping the schedule): each failure is an ERROR log line,
// and the count is an embedded-metric-format line CloudWatch reads.
func TestReconcileCountsFailuresWithoutFailing(t *testing.T) {
	run := func(context.Context) (reconcile.Report, error) {
		return reconcile.Report{Effects: 3, OverdueRevokes: 1},
			errors.Join(fmt.Errorf("revoke grt_1 again: %w", errors.New("throttled")), errors.New("redrive grt_2: timeout"))
	}
	var logs, metrics bytes.Buffer
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	h := Reconcile(run, slog.New(slog.NewJSONHandler(&logs, nil)), &metrics, func() time.Time { return at })
	rep, err := h(t.Context(), events.EventBridgeEvent{ID: "sched-1", DetailType: "Scheduled Event"})
	if err != nil {
		t.Fatalf("the invocation failed: %v", err)
	}
	if rep.Effects != 3 || rep.OverdueRevokes != 1 {
		t.Errorf("report %+v", rep)
	}
	if n := strings.Count(logs.String(), `"level":"ERROR"`); n != 2 {
		t.Errorf("%d ERROR lines, want one per failure:\n%s", n, logs.String())
	}
	var line map[string]any
	if err := json.Unmarshal(metrics.Bytes(), &line); err != nil {
		t.Fatalf("metrics line %q: %v", metrics.String(), err)
	}
	want := map[string]any{
		"Function": "reconciler", "ReconcileFailures": 2.0, "ReconcileCorrections": 1.0, "ReconcileEffects": 3.0,
		"_aws": map[string]any{"Timestamp": float64(at.UnixMilli()), "CloudWatchMetrics": []any{map[string]any{
			"Namespace": "Latch", "Dimensions": []any{[]any{"Function"}},
			"Metrics": []any{
				map[string]any{"Name": "ReconcileFailures", "Unit": "Count"},
				map[string]any{"Name": "ReconcileCorrections", "Unit": "Count"},
				map[string]any{"Name": "ReconcileEffects", "Unit": "Count"},
			},
		}}},
	}
	if d := cmp.Diff(want, line); d != "" {
		t.Errorf("metrics line (-want +got):\n%s", d)
	}
}
