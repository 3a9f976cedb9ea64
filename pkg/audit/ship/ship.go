// Package ship sends the audit feed to a destination: in commit order (so in
// order per request), resuming after a restart from the position it saved,
// retrying what a destination did not accept. A destination that keeps
// failing holds back only its own deliveries, never a request.
package ship

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/latch"
)

// Shipper delivers the feed to one sink. The zero values of Batch, Poll and
// Backoff take defaults.
type Shipper struct {
	Feed    latch.AuditFeed
	Sink    audit.Sink
	Log     *slog.Logger
	Batch   int           // events per Send; default 100
	Poll    time.Duration // wait when there is nothing new; default 250ms
	Backoff time.Duration // first wait after a failure, doubling to a minute; default 1s

	retry []latch.FeedEvent // events of the current batch still to deliver
	last  uint64            // the current batch's last position
}

// Cursor is the name the shipper's position is saved under.
func (s *Shipper) Cursor() string { return "audit:" + s.Sink.Name() }

// Once delivers the next batch (or what of the current batch the sink has
// not accepted yet). It returns how many events were delivered; an error
// means the sink refused some or all of them, and Once should be called
// again later. Events the sink refuses for good (latch.Permanent, singled
// out by a PartialError) are logged with their ids and skipped, so that one
// undeliverable event cannot stop the feed.
func (s *Shipper) Once(ctx context.Context) (int, error) {
	if s.retry == nil {
		pos, err := s.Feed.FeedCursor(ctx, s.Cursor())
		if err != nil {
			return 0, err
		}
		batch, err := s.Feed.AuditAfter(ctx, pos, s.batch())
		if err != nil || len(batch) == 0 {
			return 0, err
		}
		s.retry, s.last = batch, batch[len(batch)-1].Pos
	}
	events := make([]audit.Event, len(s.retry))
	for i, fe := range s.retry {
		events[i] = audit.FromAudit(fe.Event)
	}
	err := s.Sink.Send(ctx, events)
	failed := audit.Failed(err, len(events))
	var pe *audit.PartialError
	if err != nil && errors.As(err, &pe) && latch.IsPermanent(err) {
		ids := make([]string, len(failed))
		for i, f := range failed {
			ids[i] = events[f].ID
		}
		s.log().Error("audit destination refused events for good; they are skipped", "destination", s.Sink.Name(), "events", ids, "err", err)
		failed = nil
	}
	delivered := len(events) - len(failed)
	if len(failed) > 0 {
		keep := make([]latch.FeedEvent, len(failed))
		for i, f := range failed {
			keep[i] = s.retry[f]
		}
		s.retry = keep
		return delivered, err
	}
	if err := s.Feed.SetFeedCursor(ctx, s.Cursor(), s.last); err != nil {
		s.retry = []latch.FeedEvent{} // delivered; only the cursor is left to save
		return delivered, err
	}
	s.retry = nil
	return delivered, nil
}

// Run delivers the feed until ctx ends.
func (s *Shipper) Run(ctx context.Context) {
	wait := s.backoff()
	for ctx.Err() == nil {
		n, err := s.Once(ctx)
		switch {
		case err != nil:
			s.log().Warn("audit delivery failed; retrying", "destination", s.Sink.Name(), "delivered", n, "err", err, "retry_in", wait)
			sleep(ctx, wait)
			wait = min(wait*2, time.Minute)
		case n == 0:
			wait = s.backoff()
			sleep(ctx, s.poll())
		default:
			wait = s.backoff()
		}
	}
}

func (s *Shipper) batch() int {
	if s.Batch > 0 {
		return s.Batch
	}
	return 100
}

func (s *Shipper) poll() time.Duration {
	if s.Poll > 0 {
		return s.Poll
	}
	return 250 * time.Millisecond
}

func (s *Shipper) backoff() time.Duration {
	if s.Backoff > 0 {
		return s.Backoff
	}
	return time.Second
}

func (s *Shipper) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
