// Package audit is Latch's audit log as the world outside sees it: one
// versioned event schema (Event, schema version 1), and the Sink interface
// that every destination (stdout, Datadog, Kinesis Data Firehose, HTTP)
// implements. Destinations are in sub-packages; docs/audit.md documents the
// schema.
package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// SchemaVersion is the version of Event. A change that alters the meaning
// of a field is a new version; adding an optional field is not.
const SchemaVersion = 1

// Sources say where what an event records came from.
const (
	SourceSlack      = "slack"
	SourceAPI        = "api"
	SourceSchedule   = "schedule"   // a timer: an approval deadline, a lease's end
	SourceLatch      = "latch"      // the grant runner's reports: escalated, deescalated, failed
	SourceReconciler = "reconciler" // the reconciler corrected reality
	SourceAdmin      = "admin"      // an admin's change to users, domains, tokens
)

// Event is one audit event, schema version 1. ID is stable: the same event
// delivered twice has the same ID.
type Event struct {
	ID            string         `json:"id"`
	SchemaVersion int            `json:"schema_version"`
	Type          string         `json:"type"`
	At            time.Time      `json:"at"`
	RequestID     string         `json:"request_id,omitempty"`
	Flow          string         `json:"flow,omitempty"`
	Requester     string         `json:"requester,omitempty"`
	Actor         Actor          `json:"actor"`
	Target        string         `json:"target,omitempty"`
	GrantID       string         `json:"grant_id,omitempty"`
	Fields        map[string]any `json:"fields,omitempty"`
	Reason        string         `json:"reason,omitempty"`
	Source        string         `json:"source"`
	Data          map[string]any `json:"data,omitempty"`
}

// Actor is who did it: a person, the bot that acted for them, or Latch
// itself (System set, Email empty).
type Actor struct {
	Email  string `json:"email,omitempty"`
	Bot    string `json:"bot,omitempty"`
	System bool   `json:"system,omitempty"`
}

// FromAudit converts a stored audit event to the published schema.
func FromAudit(e latch.AuditEvent) Event {
	out := Event{ID: e.ID, SchemaVersion: SchemaVersion, Type: string(e.Type), At: e.At.UTC(), RequestID: e.RequestID,
		Flow: e.Flow, Requester: e.Requester, Actor: Actor{Email: e.Actor.Email, Bot: e.Actor.Bot, System: e.Actor.IsSystem()},
		Target: e.TargetID, GrantID: e.GrantID, Reason: e.Reason, Source: string(e.Source), Data: e.Data}
	if len(e.Fields) > 0 {
		out.Fields = map[string]any(e.Fields)
	}
	if out.Source == "" {
		out.Source = SourceLatch
		if e.Type == latch.AuditExpired {
			out.Source = SourceSchedule
		}
	}
	return out
}

// Sink is one audit destination. Send delivers events in the order given.
// It returns nil when every event was accepted; a *PartialError naming the
// events that were not (to be retried alone); or another error, meaning
// none was accepted — retryable unless marked latch.Permanent. Send must not
// keep events after it returns, and must be safe for concurrent use.
type Sink interface {
	Name() string
	Send(ctx context.Context, events []Event) error
}

// PartialError says which events of a Send were not accepted.
type PartialError struct {
	Failed []int // indexes into the events given to Send, ascending
	Err    error // why (the first reason)
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d event(s) not accepted: %v", len(e.Failed), e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// Failed returns the indexes of events that were not accepted by a Send that
// returned err: none for nil, those named by a *PartialError, all otherwise.
func Failed(err error, n int) []int {
	if err == nil {
		return nil
	}
	var pe *PartialError
	if errors.As(err, &pe) {
		return pe.Failed
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	return all
}

// Failures collects the events of a Send that were not accepted, for
// destinations that send in several calls.
type Failures struct {
	indexes   []int
	refused   int   // how many of indexes were refused one by one, for good (Refuse)
	permanent error // the first permanent reason
	retryable error // the first retryable reason
}

// Refuse records that the event at index is refused for good on its own
// account (it cannot be encoded, it is too large): whatever happens to the
// others, Err names it in a *PartialError, so that it is skipped rather than
// retried for ever.
func (f *Failures) Refuse(err error, index int) {
	f.Add(latch.Permanent(err), index)
	f.refused++
}

// Add records that the events at indexes failed because of err.
func (f *Failures) Add(err error, indexes ...int) {
	f.indexes = append(f.indexes, indexes...)
	if latch.IsPermanent(err) {
		if f.permanent == nil {
			f.permanent = err
		}
	} else if f.retryable == nil {
		f.retryable = err
	}
}

// Err is Send's result for n events: nil, the reason itself when all
// failed in calls that failed as a whole, or a *PartialError (always when
// some event was refused on its own). The reason is permanent only when
// every failure is.
func (f *Failures) Err(n int) error {
	if len(f.indexes) == 0 {
		return nil
	}
	reason := f.retryable
	if reason == nil {
		reason = f.permanent
	}
	if len(f.indexes) == n && f.refused == 0 {
		return reason
	}
	failed := slices.Clone(f.indexes)
	slices.Sort(failed)
	return &PartialError{Failed: failed, Err: reason}
}
