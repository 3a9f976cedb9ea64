package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// DefaultLookback is how long after a grant ended the drift check still
// looks for its access: a week.
const DefaultLookback = 7 * 24 * time.Hour

// FlowSource finds a flow by name.
type FlowSource interface {
	Get(name string) (*latch.Flow, error)
}

// Drift compares what each checkable target holds (latch.Checker) with the
// grants Latch made, and repairs what differs: an active grant whose access
// is missing (removed by hand) is granted again; a grant that ended within
// Lookback whose access is still there (a revoke undone, or one that never
// took) is revoked again. It looks only at access Latch granted, by grant:
// it never lists a target's members, so access a person set up without
// Latch is never touched — except the very access of a grant that ended in
// the Lookback, which it cannot tell from a leftover, and which no open
// grant of the same user, strategy and target still holds. Access the
// person had before Latch (a grant whose HeldBefore is true: Latch granted
// nothing) is not Latch's: it is neither reported nor repaired, on that
// grant nor on an earlier grant of the same access that ended before it
// started. Every correction is a corrected_by_reconciler audit event and an
// alert (Notifier).
type Drift struct {
	Store     latch.Store
	Flows     FlowSource
	Escalator func(*latch.Flow) (latch.Escalator, error)
	// Notifier, when set, is told of each correction (AuditCorrected), with
	// the grant's first request.
	Notifier latch.Notifier
	Clock    latch.Clock
	Log      *slog.Logger
	// Lookback bounds the ended grants checked (by their end); 0 means
	// DefaultLookback.
	Lookback time.Duration
	// DryRun finds and reports drift without correcting or recording it.
	DryRun bool
}

// Finding is one grant whose target differs from what Latch expects.
type Finding struct {
	GrantID  string `json:"grant_id"`
	Flow     string `json:"flow"`
	TargetID string `json:"target_id"`
	User     string `json:"user"`
	Identity string `json:"identity"`
	Status   string `json:"grant_status"`
	// Found is "missing" (an active grant's access is not there) or
	// "still_present" (an ended grant's access is).
	Found string `json:"found"`
	// Action is "granted_again", "revoked_again", "none (dry run)", or
	// "failed".
	Action string `json:"action"`
	Error  string `json:"error,omitempty"`
}

// DriftReport is what one drift check found and did.
type DriftReport struct {
	Checked  int       `json:"checked"`
	Findings []Finding `json:"findings"`
}

// Drift findings and actions.
const (
	FoundMissing      = "missing"
	FoundStillPresent = "still_present"
	ActionGranted     = "granted_again"
	ActionRevoked     = "revoked_again"
	ActionNone        = "none (dry run)"
	ActionFailed      = "failed"
)

// Run checks every active grant and every grant that ended within Lookback
// whose strategy can check, once. It goes on past a failing check or
// correction, and returns the errors joined.
func (d *Drift) Run(ctx context.Context) (DriftReport, error) {
	clock, log := d.Clock, d.Log
	if clock == nil {
		clock = latch.SystemClock
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lookback := or(d.Lookback, DefaultLookback)
	now := clock.Now()
	rep := DriftReport{Findings: []Finding{}}
	var errs []error

	open, err := d.Store.ListGrants(ctx, latch.GrantEscalating, latch.GrantActive, latch.GrantDeescalating)
	if err != nil {
		return rep, fmt.Errorf("list open grants: %w", err)
	}
	ended, err := d.Store.ListGrants(ctx, latch.GrantEnded)
	if err != nil {
		return rep, fmt.Errorf("list ended grants: %w", err)
	}
	// The access each open grant holds (or is acquiring, or still holds
	// while revoking): an ended grant of the same access is not revoked again.
	held := map[string]bool{}
	for _, g := range open {
		if _, spec, _, ok := d.prepare(g, now); ok {
			held[accessKey(g, spec)] = true
		}
	}
	// When a grant found its access already in place (HeldBefore), the
	// person had it without Latch from then on: an earlier grant of the
	// same access that ended before is not revoked again.
	personalSince := map[string]time.Time{}
	for _, g := range slices.Concat(open, ended) {
		if !g.LeftInPlace() {
			continue
		}
		if _, spec, _, ok := d.prepare(g, now); ok {
			if k := accessKey(g, spec); g.CreatedAt.After(personalSince[k]) {
				personalSince[k] = g.CreatedAt
			}
		}
	}

	for _, g := range open {
		if g.Status != latch.GrantActive || g.LeftInPlace() {
			continue // in flight: the runner owns it; or not Latch's access
		}
		if due, ok := g.NextDue(); ok && !now.Before(due) {
			continue // its revoke is due: the runner (or the overdue check) owns it
		}
		errs = appendErr(errs, d.one(ctx, now, g, true, nil, &rep, log))
	}
	for _, g := range ended {
		if g.EndedAt == nil || now.Sub(*g.EndedAt) > lookback || g.LeftInPlace() {
			continue
		}
		if _, spec, _, ok := d.prepare(g, now); ok {
			if since, ok := personalSince[accessKey(g, spec)]; ok && !since.Before(*g.EndedAt) {
				continue // the person's own since a later grant found it in place
			}
		}
		errs = appendErr(errs, d.one(ctx, now, g, false, held, &rep, log))
	}
	return rep, errors.Join(errs...)
}

// prepare returns the flow, spec and escalator to check g with; false when
// g cannot be checked (no flow, no identity, a strategy that cannot check).
func (d *Drift) prepare(g latch.Grant, now time.Time) (*latch.Flow, latch.GrantSpec, latch.Escalator, bool) {
	if g.Identity == "" {
		return nil, latch.GrantSpec{}, nil, false
	}
	var cur *latch.Flow
	if d.Flows != nil {
		cur, _ = d.Flows.Get(g.Flow)
	}
	f, name, ok := latch.RevokeTarget(&g, cur)
	if !ok {
		return nil, latch.GrantSpec{}, nil, false
	}
	esc, err := d.Escalator(f.EscalatorFlow(name))
	if err != nil || !latch.Checks(esc) {
		return nil, latch.GrantSpec{}, nil, false
	}
	return f, latch.NewGrantSpec(f, &g, nil, now), esc, true
}

// accessKey names the access a grant gives: the strategy, its settings, the
// target's settings and the identity. Two grants with the same key give
// the same access.
func accessKey(g latch.Grant, spec latch.GrantSpec) string {
	typ, cfg := "", map[string]any(nil)
	if g.Revoke != nil {
		typ, cfg = g.Revoke.Strategy, g.Revoke.Config
	}
	b, _ := json.Marshal([]any{typ, cfg, spec.Target.Settings, spec.User.Identity})
	return string(b)
}

// one checks one grant and corrects it: active grants must hold their
// access, ended ones must not (unless an open grant holds the same).
func (d *Drift) one(ctx context.Context, now time.Time, g latch.Grant, active bool, held map[string]bool, rep *DriftReport, log *slog.Logger) error {
	_, spec, esc, ok := d.prepare(g, now)
	if !ok {
		return nil
	}
	if !active && held[accessKey(g, spec)] {
		return nil // another grant holds this access now
	}
	rep.Checked++
	has, err := safeCheck(ctx, esc, spec)
	if err != nil {
		return fmt.Errorf("grant %s: check: %w", g.ID, err)
	}
	if has == active {
		return nil
	}
	// The grant may have moved on while the target was asked (a revoke
	// that started, finished, or took the access away just now): correct
	// only a grant still as it was read.
	if cur, err := d.Store.GetGrant(ctx, g.ID); err != nil || cur.Status != g.Status || cur.Version != g.Version {
		return nil
	}
	fd := Finding{GrantID: g.ID, Flow: g.Flow, TargetID: g.TargetID, User: g.User.Email, Identity: g.Identity,
		Status: string(g.Status), Found: FoundMissing, Action: ActionGranted}
	fix := esc.Grant
	if !active {
		fd.Found, fd.Action = FoundStillPresent, ActionRevoked
		fix = func(ctx context.Context, s latch.GrantSpec) error {
			if err := esc.Revoke(ctx, s); err != nil {
				return err
			}
			return latch.ConfirmRevoked(ctx, esc, s)
		}
	}
	if d.DryRun {
		fd.Action = ActionNone
		rep.Findings = append(rep.Findings, fd)
		log.WarnContext(ctx, "drift found (dry run: not corrected)", "grant", g.ID, "found", fd.Found)
		return nil
	}
	var errs []error
	if err := safeFix(ctx, fix, spec); err != nil {
		fd.Action, fd.Error = ActionFailed, err.Error()
		errs = append(errs, fmt.Errorf("grant %s: correct %s access: %w", g.ID, fd.Found, err))
	}
	rep.Findings = append(rep.Findings, fd)
	log.ErrorContext(ctx, "reconciler: the target differs from Latch's grants", "grant", g.ID, "flow", g.Flow,
		"target", g.TargetID, "user", g.User.Email, "found", fd.Found, "action", fd.Action, "err", fd.Error)
	ev := latch.AuditEvent{ID: fmt.Sprintf("reconcile/drift/%s/%s/%d", g.ID, fd.Found, now.UnixNano()), Type: latch.AuditCorrected,
		At: now, Flow: g.Flow, Requester: g.User.Email, TargetID: g.TargetID, GrantID: g.ID, Source: latch.SourceReconciler,
		Data: map[string]any{"correction": "drift", "grant": g.ID, "requests": g.RequestIDs(), "grant_status": string(g.Status),
			"identity": g.Identity, "found": fd.Found, "action": fd.Action}}
	if fd.Error != "" {
		ev.Data["error"] = fd.Error
	}
	if err := d.Store.AppendAudit(ctx, ev); err != nil && !errors.Is(err, latch.ErrConflict) {
		errs = append(errs, fmt.Errorf("grant %s: record the correction: %w", g.ID, err))
	}
	if d.Notifier != nil {
		if id := g.FirstRequestID(); id != "" {
			if r, err := d.Store.GetRequest(ctx, id); err == nil {
				if err := d.Notifier.Notify(ctx, latch.AuditCorrected, r); err != nil {
					log.WarnContext(ctx, "could not send the drift alert", "grant", g.ID, "err", err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func safeCheck(ctx context.Context, esc latch.Escalator, spec latch.GrantSpec) (held bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check panicked: %v", r)
		}
	}()
	return esc.(latch.Checker).Check(ctx, spec)
}

func safeFix(ctx context.Context, fix func(context.Context, latch.GrantSpec) error, spec latch.GrantSpec) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panicked: %v", r)
		}
	}()
	return fix(ctx, spec)
}
