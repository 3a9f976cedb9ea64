package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/reconcile"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return now }

// recorder is the queue, the grant runner and the outbox, recording calls.
type recorder struct {
	mu       sync.Mutex
	commands []latch.Command
	runs     []string
	fail     bool
	outbox   int
}

func (r *recorder) Publish(_ context.Context, cmd latch.Command) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("queue down")
	}
	r.commands = append(r.commands, cmd)
	return nil
}

func (r *recorder) Escalate(_ context.Context, id string) error   { return r.run("escalate " + id) }
func (r *recorder) Deescalate(_ context.Context, id string) error { return r.run("deescalate " + id) }
func (r *recorder) Wake(context.Context, string, time.Time) error { return r.run("wake") }
func (r *recorder) run(s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, s)
	return nil
}

func (r *recorder) DispatchPending(context.Context, time.Duration) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outbox++
	return 2, nil
}

func grant(id string, status latch.GrantStatus, updated time.Time, ends ...time.Time) latch.Grant {
	g := latch.Grant{ID: id, Key: "f/t/" + id + "@example.com", Flow: "f", TargetID: "t",
		User: latch.UserRef{Email: id + "@example.com"}, Status: status, CreatedAt: updated, UpdatedAt: updated}
	for i, e := range ends {
		g.Leases = append(g.Leases, latch.Lease{RequestID: fmt.Sprintf("req_%s_%d", id, i), Duration: 3600, StartsAt: e.Add(-time.Hour), EndsAt: e})
	}
	return g
}

func withDue(g latch.Grant, due time.Time) latch.Grant {
	g.DueAt = &due
	return g
}

func pending(id string, expires time.Time) latch.Request {
	return latch.Request{ID: id, Flow: "f", Requester: latch.UserRef{Email: "ann@example.com"}, Status: latch.StatusPending,
		Fields: latch.Fields{}, ExpiresAt: &expires, CreatedAt: expires.Add(-time.Hour), UpdatedAt: expires.Add(-time.Hour)}
}

func TestReconcile(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	change := latch.Change{
		Grants: []latch.Grant{
			grant("overdue", latch.GrantActive, now.Add(-2*time.Hour), now.Add(-10*time.Minute), now.Add(time.Hour)),
			grant("late", latch.GrantActive, now.Add(-2*time.Hour), now.Add(-30*time.Second)), // within the grace
			withDue(grant("revoking", latch.GrantDeescalating, now.Add(-2*time.Hour)), now.Add(-2*time.Hour)),
			withDue(grant("newrevoke", latch.GrantDeescalating, now.Add(-30*time.Second)), now.Add(-30*time.Second)),
			grant("forever", latch.GrantActive, now.Add(-2*time.Hour)), // no scheduled end
			grant("stuckesc", latch.GrantEscalating, now.Add(-time.Hour)),
			grant("freshesc", latch.GrantEscalating, now.Add(-time.Minute)),
			grant("oldrevoke", latch.GrantDeescalating, now.Add(-2*time.Hour)), // recorded before grants had DueAt
			grant("stuckrev", latch.GrantDeescalating, now.Add(-26*time.Hour)),
			grant("done", latch.GrantEnded, now.Add(-48*time.Hour), now.Add(-47*time.Hour)),
		},
		Requests: []latch.Request{pending("req_old", now.Add(-10*time.Minute)), pending("req_new", now.Add(time.Hour))},
	}
	if err := store.Commit(ctx, change); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	rc := &reconcile.Reconciler{Store: store, Queue: rec, Runner: rec, Outbox: rec, Clock: fixedClock{}}

	rep, err := rc.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := reconcile.Report{Effects: 2, OverdueRevokes: 1, Redriven: 2, Expired: 1, Overdue: 2}
	if rep != want {
		t.Errorf("report %+v, want %+v", rep, want)
	}
	ids := make([]string, len(rec.commands))
	for i, c := range rec.commands {
		ids[i] = string(c.Kind) + " " + c.ID
	}
	wantIDs := []string{fmt.Sprintf("due due/overdue/%d", now.Add(-10*time.Minute).UnixNano()),
		fmt.Sprintf("overdue overdue/overdue/%d", now.Add(-10*time.Minute).UnixNano()),
		fmt.Sprintf("overdue overdue/revoking/%d", now.Add(-2*time.Hour).UnixNano()), "expire expire/req_old"}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("commands %v, want %v (the ids the originals carry)", ids, wantIDs)
	}
	slices.Sort(rec.runs)
	// An overdue revoke is asked for again (not recorded as a correction
	// until it is stuck for a day).
	if !slices.Equal(rec.runs, []string{"deescalate revoking", "deescalate stuckrev", "escalate stuckesc"}) {
		t.Errorf("runner calls %v", rec.runs)
	}
	events, err := store.AdminAudit(ctx, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	corrections := map[string]string{}
	for _, e := range events {
		if e.Type != latch.AuditCorrected || e.Source != latch.SourceReconciler {
			t.Errorf("event %+v, want corrected_by_reconciler from the reconciler", e)
		}
		corrections[e.Data["correction"].(string)] = e.GrantID
	}
	if len(events) != 4 || corrections["overdue_revoke"] != "overdue" || corrections["stuck_escalating"] != "stuckesc" ||
		corrections["stuck_deescalating"] != "stuckrev" || corrections["overdue_expiry"] != "" {
		t.Errorf("corrections %v (%d events)", corrections, len(events))
	}

	// A second run before anything moved sends again (the engine drops the
	// duplicates) but records each correction once.
	if _, err := rc.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := store.AdminAudit(ctx, now.Add(-time.Hour), now.Add(time.Hour)); len(again) != 4 {
		t.Errorf("%d audit events after a second run, want the same 4", len(again))
	}

	// A queue that fails is reported, and the other corrections still run.
	rec.fail, rec.runs = true, nil
	_, err = rc.Run(ctx)
	if err == nil || len(rec.runs) != 3 {
		t.Errorf("with the queue down: err %v, %d runner calls; want an error and the runner calls made", err, len(rec.runs))
	}
}

func TestExpiriesSweep(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.Commit(ctx, latch.Change{Requests: []latch.Request{
		pending("req_due", now.Add(-time.Second)), pending("req_later", now.Add(time.Minute)),
	}}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ex := &reconcile.Expiries{Store: store, Queue: rec, Clock: fixedClock{}}
	if err := ex.At(ctx, now, latch.Command{ID: "expire/req_due", Kind: latch.CmdExpire, RequestID: "req_due"}); err != nil {
		t.Errorf("At(expire) = %v", err)
	}
	if err := ex.At(ctx, now, latch.ForwardCommand("req_due", 1, now)); err != nil {
		t.Errorf("At(forward) = %v", err)
	}
	if err := ex.At(ctx, now, latch.Command{ID: "due/g/1", Kind: latch.CmdDue, GrantID: "g"}); err == nil {
		t.Errorf("At(due) accepted a command the sweep never sends")
	}
	n, err := ex.Sweep(ctx)
	if err != nil || n != 1 || len(rec.commands) != 1 || rec.commands[0].ID != "expire/req_due" || rec.commands[0].Source != latch.SourceSchedule {
		t.Errorf("Sweep = %d, %v; sent %+v; want the one expiry due, from the schedule", n, err, rec.commands)
	}
}

// With the sweeping scheduler (AWS), a run sends every expiry that is due,
// on time, and records no correction: the sweep is the schedule.
func TestRunSweepsWithExpiries(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	if err := store.Commit(ctx, latch.Change{Requests: []latch.Request{
		pending("req_due", now.Add(-time.Second)), pending("req_later", now.Add(time.Minute)),
	}}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	rc := &reconcile.Reconciler{Store: store, Queue: rec, Runner: rec, Clock: fixedClock{},
		Expiries: &reconcile.Expiries{Store: store, Queue: rec, Clock: fixedClock{}}}
	rep, err := rc.Run(ctx)
	if err != nil || rep.Swept != 1 || rep.Expired != 0 || len(rec.commands) != 1 || rec.commands[0].ID != "expire/req_due" {
		t.Errorf("Run = %+v, %v; sent %+v; want the one due expiry swept", rep, err, rec.commands)
	}
	if events, _ := store.AdminAudit(ctx, now.Add(-time.Hour), now.Add(time.Hour)); len(events) != 0 {
		t.Errorf("%d corrections recorded for on-time expiries", len(events))
	}
}

// An overdue revoke is counted on every run while it lasts (the metric an
// alarm watches), as one CloudWatch embedded-metric-format line per grant.
func TestOverdueMetric(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	g := withDue(grant("stuck", latch.GrantDeescalating, now.Add(-5*time.Minute)), now.Add(-5*time.Minute))
	if err := store.Commit(ctx, latch.Change{Grants: []latch.Grant{g}}); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	rec := &recorder{}
	rc := &reconcile.Reconciler{Store: store, Queue: rec, Runner: rec, Clock: fixedClock{},
		Overdue: reconcile.EMF(&buf, "Latch", fixedClock{})}
	for range 2 {
		if _, err := rc.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d metric lines, want one per run: %q", len(lines), buf.String())
	}
	var m struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		RevokeOverdue float64
		Grant         string `json:"grant"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	cw := m.AWS.CloudWatchMetrics
	if m.AWS.Timestamp != now.UnixMilli() || len(cw) != 1 || cw[0].Namespace != "Latch" || len(cw[0].Metrics) != 1 ||
		cw[0].Metrics[0].Name != reconcile.MetricRevokeOverdue || cw[0].Metrics[0].Unit != "Count" || m.RevokeOverdue != 1 ||
		m.Grant != "stuck" {
		t.Errorf("metric line %s", lines[0])
	}
}

func (r *recorder) At(context.Context, time.Time, latch.Command) error { return nil }
