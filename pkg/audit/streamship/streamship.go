// Package streamship is the audit function's logic on AWS: it reads the
// DynamoDB stream of Latch's table (pkg/dynamostore) and sends every audit
// event written there to the configured destinations (audit.Sink), as
// pkg/audit/ship does from the embedded store's feed in `latch server`.
//
// # What is shipped
//
// Only the insertions of audit items (type dynamostore.TypeAudit) are
// events; every other record is skipped: requests, grants and other
// entities inserted or modified, the items that make admin events' ids
// unique (dynamostore.TypeAuditID), and deletions, such as time to live's
// of dedup markers. Audit items are immutable (written once, on the
// condition that they do not exist), so each event enters the stream once.
// An event is converted with audit.FromAudit and sent to every sink in the
// order of the stream's records. DynamoDB Streams promises order per item
// only; a request's events are different items, but of one partition key,
// which keeps them in one shard, where records come in write order (the
// commits of a request are sequential: each is conditioned on the version
// the previous one wrote). Items of one transaction may come in any order,
// so the events of a request that arrive in one invocation are put in their
// Seq order. Each sink cuts a Send into calls within its own limits, so
// each receives the invocation's events in one Send.
//
// # Failures
//
// Destinations are independent: each is sent to concurrently, and what one
// does not accept is sent to it again, alone, with backoff (Attempts tries
// in all, within the invocation's time; a refusal of a whole call marked
// latch.Permanent, such as a wrong API key, is not tried again within the
// invocation). An event a destination refuses for good (named by a
// *audit.PartialError whose Err is latch.Permanent, such as one too large
// for it; or refused permanently when sent alone after the destination
// accepted others) is logged at error level with its id and skipped, like
// pkg/audit/ship does, so that it cannot stop the stream. An audit item
// that cannot be decoded is logged at error level with its key and
// skipped too.
//
// When a destination still has events it did not accept, Handle reports
// the sequence number of the first stream record holding one of them (the
// earliest over every destination) as the batch's item failure. Lambda then
// checkpoints before that record and invokes again from it: see "Configuring
// partial batch response with DynamoDB and Lambda",
// https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
// (the response is {"batchItemFailures":[{"itemIdentifier":"<SequenceNumber>"}]};
// given several, Lambda uses the lowest sequence number as the checkpoint).
// The other destinations therefore see the events from that record again.
// A Handler remembers, per destination, the ids of the last events each
// accepted (Remember), and does not send them again when a retry reaches
// the same execution environment; one that reaches another environment does.
// Delivery is at least once, and a repeated event always has the same id:
// destinations drop duplicates by id (docs/audit.md).
//
// # The event source mapping
//
// The table's stream must show new images (StreamViewType NEW_IMAGE or
// NEW_AND_OLD_IMAGES; KEYS_ONLY makes Handle fail with ErrNoImage rather
// than ship nothing). The function's event source mapping must have:
//
//   - FunctionResponseTypes [ReportBatchItemFailures]. Without it Lambda
//     ignores the batch item failures Handle reports and checkpoints past
//     the whole batch: events a destination did not accept would be lost,
//     silently.
//   - BisectBatchOnFunctionError true. When the function fails as a whole
//     (a crash, a timeout), the batch is split in two, and again, so that a
//     record that breaks the function is isolated instead of holding back
//     the records around it; with a partial response Lambda splits at the
//     reported record. Splitting does not use up retries.
//   - MaximumRetryAttempts finite, and MaximumRecordAgeInSeconds well under
//     the stream's 24 hours of retention (for example 1000 and 6 hours).
//     While a destination keeps failing, the shard's checkpoint does not
//     move: new events wait, for every destination, and the others may see
//     the retried events again. These bound how long that lasts; the
//     default (-1, -1) would hold the shard until the records expire.
//   - DestinationConfig OnFailure: a standard SQS queue (the audit DLQ),
//     with an alarm on its depth. When the retries or the age run out,
//     Lambda discards the records and sends a description of the batch
//     (shard, first and last sequence numbers, arrival times) to the queue,
//     so nothing is dropped silently. The events themselves stay in the
//     table (audit items have no time to live), to be sent again once the
//     destination is fixed.
//   - StartingPosition TRIM_HORIZON, so that the events written before the
//     mapping was enabled (within the stream's retention) are shipped.
//   - ParallelizationFactor 1 (the default): with more concurrent batches
//     per shard, Lambda keeps the order of each item's records only, and a
//     request's events could be sent out of order.
//
// A function timeout of a minute suits the defaults; Handle stops its
// retries Reserve before the invocation's deadline to answer in time.
// Filter criteria (eventName INSERT and dynamodb.NewImage.type.S "audit")
// are optional: they save invocations, and Handle skips the same records.
package streamship

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/latch"
)

// Defaults of Handler's settings.
const (
	DefaultAttempts = 3
	DefaultBackoff  = 500 * time.Millisecond
	MaxBackoff      = 5 * time.Second
	DefaultReserve  = 2 * time.Second
	DefaultRemember = 10000
)

// Log messages a metric filter may count.
const (
	MsgSkipped     = "audit destination refused events for good; they are skipped"
	MsgUndecodable = "audit item in the stream cannot be decoded; it is skipped"
	MsgRetry       = "audit destination did not accept events; the stream will send them again"
)

// Handler ships the audit events of a DynamoDB stream batch to Sinks. The
// zero values of the settings take the defaults. A Handler must not be
// copied after first use; it is safe for concurrent use.
type Handler struct {
	Sinks []audit.Sink
	Log   *slog.Logger
	// Attempts is how many times, at most, an event is sent to a sink in
	// one invocation; default 3.
	Attempts int
	// Backoff is the first wait between attempts, doubling up to MaxBackoff;
	// default 500ms.
	Backoff time.Duration
	// Reserve is the time kept before the context's deadline (the
	// invocation's) to answer: sends end, and no retry starts, after it.
	// Default 2s.
	Reserve time.Duration
	// Remember is how many accepted event ids are remembered per sink, so
	// that a retried batch does not send them to it again; default 10,000,
	// negative for none.
	Remember int

	sleep func(ctx context.Context, d time.Duration) bool // for tests; nil: a timer

	mu       sync.Mutex
	accepted []*idSet // per sink, by index
}

// item is an audit event of the batch and the record it came from.
type item struct {
	rec   int // index in the batch's records
	event audit.Event
	req   string // its request, if any
	seq   int64  // its Seq within the request
}

// Handle ships the batch's audit events to every sink and answers with the
// first record Lambda must send again, if any. It returns an error, making
// the whole batch fail, when there is no sink, when a record has no new
// image (ErrNoImage), or when a record to report has no sequence number.
func (h *Handler) Handle(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	if len(h.Sinks) == 0 {
		return events.DynamoDBEventResponse{}, errors.New("streamship: no audit destination is configured")
	}
	var items []item
	for i, r := range ev.Records {
		e, ok, err := RecordEvent(r)
		switch {
		case errors.Is(err, ErrNoImage):
			return events.DynamoDBEventResponse{}, err
		case err != nil:
			h.log().Error(MsgUndecodable, "sequence_number", r.Change.SequenceNumber, "key", keyOf(r.Change.Keys), "err", err)
			continue
		case !ok:
			continue
		}
		items = append(items, item{rec: i, event: audit.FromAudit(e), req: e.RequestID, seq: e.Seq})
	}
	if len(items) == 0 {
		return events.DynamoDBEventResponse{}, nil
	}
	orderPerRequest(items)

	dctx, cancel := h.deliveryContext(ctx)
	defer cancel()
	first := make([]int, len(h.Sinks)) // per sink, the first record it still lacks; -1 none
	var wg sync.WaitGroup
	for i, s := range h.Sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				// A sink that panics has delivered nothing for sure; the
				// others go on.
				if p := recover(); p != nil {
					h.log().Error(MsgRetry, "destination", s.Name(), "panic", fmt.Sprint(p))
					first[i] = minRecord(items)
				}
			}()
			first[i] = h.deliver(dctx, s, h.acceptedBy(i), items)
		}()
	}
	wg.Wait()

	rec := -1
	for _, f := range first {
		if f >= 0 && (rec < 0 || f < rec) {
			rec = f
		}
	}
	if rec < 0 {
		return events.DynamoDBEventResponse{}, nil
	}
	seq := ev.Records[rec].Change.SequenceNumber
	if seq == "" {
		// An empty itemIdentifier fails the whole batch anyway; say why.
		return events.DynamoDBEventResponse{}, fmt.Errorf("streamship: record %d (event id %s) was not delivered and has no sequence number", rec, ev.Records[rec].EventID)
	}
	return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}}}, nil
}

// deliver sends items to s, retrying what it does not accept, and returns
// the record of the first item it still lacks at the end, or -1.
func (h *Handler) deliver(ctx context.Context, s audit.Sink, seen *idSet, items []item) int {
	var todo []item
	for _, it := range items {
		if !seen.has(it.event.ID) {
			todo = append(todo, it)
		}
	}
	wait := h.backoff()
	acceptedSome := false
	for attempt := 1; len(todo) > 0; attempt++ {
		evs := make([]audit.Event, len(todo))
		for i, it := range todo {
			evs[i] = it.event
		}
		err := s.Send(ctx, evs)
		failed := audit.Failed(err, len(evs))
		var pe *audit.PartialError
		partial := errors.As(err, &pe)
		if latch.IsPermanent(err) && (partial || len(evs) == 1 && acceptedSome) {
			// Refused for good, event by event (the destination takes
			// others): skip them, or they would hold back the stream.
			var ids []string
			for _, f := range failed {
				if f >= 0 && f < len(evs) {
					ids = append(ids, evs[f].ID)
				}
			}
			h.log().Error(MsgSkipped, "destination", s.Name(), "events", ids, "err", err)
			failed = nil
		}
		var left []item
		for i, it := range todo {
			if slices.Contains(failed, i) {
				left = append(left, it)
			} else {
				seen.add(it.event.ID)
			}
		}
		acceptedSome = acceptedSome || len(audit.Failed(err, len(evs))) < len(evs)
		todo = left
		if len(todo) == 0 {
			break
		}
		// A refusal of the whole call (a wrong key, a missing stream) is not
		// cured by trying again now.
		whole := latch.IsPermanent(err) && !partial
		if whole || attempt >= h.attempts() || !h.wait(ctx, wait) {
			h.log().Warn(MsgRetry, "destination", s.Name(), "events", len(todo), "first", todo[0].event.ID,
				"attempts", attempt, "err", err)
			return minRecord(todo)
		}
		wait = min(wait*2, MaxBackoff)
	}
	return -1
}

// minRecord is the earliest record of items.
func minRecord(items []item) int {
	return slices.MinFunc(items, func(a, b item) int { return cmp.Compare(a.rec, b.rec) }).rec
}

// orderPerRequest puts each request's events in Seq order, in the places
// its events hold in items: DynamoDB Streams orders the records of each
// item, and the events of one commit are different items.
func orderPerRequest(items []item) {
	places := map[string][]int{}
	for i, it := range items {
		if it.req != "" {
			places[it.req] = append(places[it.req], i)
		}
	}
	for _, at := range places {
		group := make([]item, len(at))
		for j, i := range at {
			group[j] = items[i]
		}
		slices.SortStableFunc(group, func(a, b item) int { return cmp.Compare(a.seq, b.seq) })
		for j, i := range at {
			items[i] = group[j]
		}
	}
}

// deliveryContext ends Reserve before ctx's deadline, if it has one.
func (h *Handler) deliveryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d.Add(-h.reserve()))
	}
	return context.WithCancel(ctx)
}

// wait waits d, unless ctx ends first or would end before d is over; it
// reports whether there is time for another attempt.
func (h *Handler) wait(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return false
	}
	if h.sleep != nil {
		return h.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// acceptedBy returns the ids sink i accepted lately.
func (h *Handler) acceptedBy(i int) *idSet {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.accepted) != len(h.Sinks) {
		h.accepted = make([]*idSet, len(h.Sinks))
	}
	if h.accepted[i] == nil {
		h.accepted[i] = newIDSet(h.remember())
	}
	return h.accepted[i]
}

func (h *Handler) attempts() int {
	if h.Attempts > 0 {
		return h.Attempts
	}
	return DefaultAttempts
}

func (h *Handler) backoff() time.Duration {
	if h.Backoff > 0 {
		return h.Backoff
	}
	return DefaultBackoff
}

func (h *Handler) reserve() time.Duration {
	if h.Reserve > 0 {
		return h.Reserve
	}
	return DefaultReserve
}

func (h *Handler) remember() int {
	switch {
	case h.Remember < 0:
		return 0
	case h.Remember == 0:
		return DefaultRemember
	}
	return h.Remember
}

func (h *Handler) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// idSet holds the last n ids added to it.
type idSet struct {
	mu   sync.Mutex
	n    int
	ids  map[string]bool
	ring []string // insertion order; next is the oldest once full
	next int
}

func newIDSet(n int) *idSet { return &idSet{n: n, ids: map[string]bool{}} }

func (s *idSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 || s.ids[id] {
		return
	}
	if len(s.ring) < s.n {
		s.ring = append(s.ring, id)
	} else {
		delete(s.ids, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % s.n
	}
	s.ids[id] = true
}
