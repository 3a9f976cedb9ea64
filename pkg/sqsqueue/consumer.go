package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// Consumer handles the batches Lambda delivers from the events queue: it
// reads each record's message and hands a command to Handle, a create to
// Create. See the package documentation for what is done and what fails.
type Consumer struct {
	Handle func(ctx context.Context, cmd latch.Command) error
	Create func(ctx context.Context, in engine.CreateInput) error
	// CreateRefused, when set, is told of a new request the engine refused
	// for good (the edge checked it, but the flow or the person changed
	// meanwhile): the edge has already said the request was sent, so the
	// requester must hear otherwise. Its error is logged, not retried.
	CreateRefused func(ctx context.Context, in engine.CreateInput, err error) error
	// Log receives a line per message not done at once (refused, failed,
	// unreadable, skipped); nil means slog.Default().
	Log *slog.Logger
	// PoisonAfter is the receive count (SQS's ApproximateReceiveCount) from
	// which a message that fails again is a poison message: it is moved
	// aside with MoveAside and is done, so the messages of its group behind
	// it are handled. 0 means DefaultPoisonAfter. See the package
	// documentation, "Poison messages".
	PoisonAfter int
	// MoveAside sends a poison message out of the queue (DeadLetters.Send:
	// to the dead-letter queue), saying why; when it fails, the message is
	// reported failed and retried. nil: messages are never moved aside by
	// the consumer, and only the queue's maxReceiveCount ends their retries.
	MoveAside func(ctx context.Context, rec lambdaevents.SQSMessage, reason error) error
}

// DefaultPoisonAfter is the default of Consumer.PoisonAfter.
const DefaultPoisonAfter = 5

// QueueMaxReceiveCount is the events queue's maxReceiveCount (the CDK
// stack's): how many receives SQS allows a message before it moves it to
// the dead-letter queue itself. It is well above DefaultPoisonAfter
// because SQS counts a receive against every message of a batch, those
// held behind a failing message of their group included: a message behind
// a poison one is received as often as the poison one until the consumer
// moves it aside. With 20, a message still has its own tries behind up to
// three poison messages in its group. It stays the last resort for a
// message the consumer never reports on (a function that crashes or times
// out on it).
const QueueMaxReceiveCount = 4 * DefaultPoisonAfter

// attrGroup is the attribute naming a FIFO record's message group.
const attrGroup = "MessageGroupId"

// Consume handles the records of one batch in order and reports the ones to
// be delivered again. It never returns an error: a failure is reported per
// record, since an error would make Lambda retry the whole batch, the
// records done included.
//
// Records of a group that failed earlier in the batch are reported failed
// without being handled: on a FIFO queue the function must not let a later
// message of a group be deleted while an earlier one goes back to the queue.
// AWS's guidance for partial batch responses from FIFO queues: the function
// "should stop processing messages after the first failure and return all
// failed and unprocessed messages in batchItemFailures. This helps preserve
// the message order of your queue."
// (https://docs.aws.amazon.com/prescriptive-guidance/latest/lambda-event-filtering-partial-batch-responses-for-sqs/best-practices-partial-batch-responses.html)
// Order is kept only within a group, so stopping the failed group alone is
// enough, and the other groups of the batch go on (as the skipGroupOnError
// option of Powertools for AWS Lambda's SQS FIFO batch processor does).
func (c *Consumer) Consume(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	resp := lambdaevents.SQSEventResponse{BatchItemFailures: []lambdaevents.SQSBatchItemFailure{}}
	failedGroups := map[string]string{} // group → the SQS message id that failed first
	for _, rec := range ev.Records {
		group := rec.Attributes[attrGroup]
		log := c.log().With("sqs_message", rec.MessageId, "group", group,
			"receive_count", rec.Attributes["ApproximateReceiveCount"])
		fail := func() {
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			if _, ok := failedGroups[group]; !ok && group != "" {
				failedGroups[group] = rec.MessageId
			}
		}
		if first, ok := failedGroups[group]; ok {
			log.WarnContext(ctx, "message not handled: an earlier message of its group failed; it is retried after it", "failed", first)
			fail()
			continue
		}
		if err := outOfTime(ctx); err != nil {
			log.WarnContext(ctx, "message not handled: out of time; it is retried", "error", err)
			fail()
			continue
		}
		if err := c.record(ctx, log, rec); err != nil && !c.movedAside(ctx, log, rec, err) {
			fail()
		}
	}
	return resp, nil
}

// movedAside moves rec out of the queue when it is a poison message: it
// failed at least PoisonAfter times. It reports whether rec is done.
func (c *Consumer) movedAside(ctx context.Context, log *slog.Logger, rec lambdaevents.SQSMessage, reason error) bool {
	after := c.PoisonAfter
	if after <= 0 {
		after = DefaultPoisonAfter
	}
	n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if c.MoveAside == nil || err != nil || n < after {
		return false
	}
	if err := c.MoveAside(ctx, rec, reason); err != nil {
		log.ErrorContext(ctx, "poison message: it could not be moved to the dead-letter queue; it is retried", "error", err)
		return false
	}
	log.ErrorContext(ctx, "poison message moved to the dead-letter queue: it failed "+strconv.Itoa(n)+
		" times, and the later messages of its group go on without it; redrive it once the cause is fixed (docs/aws.md)",
		"reason", reason, "body", excerpt(rec.Body))
	return true
}

// Margin is the time before the invocation's deadline after which no
// further record is started: the answer naming what was not handled must
// reach Lambda before the function is stopped, or the whole batch is
// delivered again.
const Margin = 5 * time.Second

// outOfTime reports why no further record can be started.
func outOfTime(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < Margin {
		return fmt.Errorf("less than %s left before the deadline", Margin)
	}
	return nil
}

// record handles one record; it returns an error when the record is to be
// delivered again, having logged why.
func (c *Consumer) record(ctx context.Context, log *slog.Logger, rec lambdaevents.SQSMessage) error {
	m, err := events.Unmarshal([]byte(rec.Body))
	if err != nil {
		log.ErrorContext(ctx, "unreadable message: this build cannot read it; it goes to the dead-letter queue after its retries",
			"error", err, "body", excerpt(rec.Body))
		return err
	}
	log = log.With("message", m.ID, "type", string(m.Type))
	err = c.dispatch(ctx, m)
	switch {
	case err == nil:
		log.DebugContext(ctx, "message done")
		return nil
	case errors.Is(err, errMisrouted):
		log.ErrorContext(ctx, "message not for this queue: it goes to the dead-letter queue after its retries", "error", err)
		return err
	case Refused(err):
		log.WarnContext(ctx, "message refused; it will not be retried", "code", latch.ErrorCodeOf(err), "error", err)
		return nil
	default:
		log.ErrorContext(ctx, "message failed; it is retried", "error", err)
		return err
	}
}

var errMisrouted = errors.New("sqsqueue: the message has no handler here")

// dispatch hands m to its handler, turning a panic into an error.
func (c *Consumer) dispatch(ctx context.Context, m events.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqsqueue: panic handling %s message %s: %v\n%s", m.Type, m.ID, p, debug.Stack())
		}
	}()
	switch {
	case m.Type.IsCommand() && c.Handle != nil:
		cmd, err := m.Command()
		if err != nil {
			return err
		}
		return c.Handle(ctx, cmd)
	case m.Type == events.TypeCreate && c.Create != nil:
		cr, err := m.Create()
		if err != nil {
			return err
		}
		in := CreateInput(cr)
		err = c.Create(ctx, in)
		if err != nil && Refused(err) && !errors.Is(err, engine.ErrExists) && c.CreateRefused != nil {
			if terr := c.CreateRefused(ctx, in, err); terr != nil {
				c.log().WarnContext(ctx, "could not tell the requester that their request was refused", "request", in.ID, "error", terr)
			}
		}
		return err
	}
	return fmt.Errorf("%w: %s", errMisrouted, m.Type)
}

// Refused reports whether err is a refusal that retrying cannot change: the
// request exists already (engine.ErrExists), or a *latch.Error of a kind
// other than internal and too_many. latch.ErrConflict is not a refusal: it
// means a write lost to concurrent writers, and a retry reads afresh.
func Refused(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, engine.ErrExists) {
		return true
	}
	if errors.Is(err, latch.ErrConflict) {
		return false
	}
	var le *latch.Error
	if !errors.As(err, &le) {
		return false
	}
	return le.Kind != latch.KindInternal && le.Kind != latch.KindTooMany
}

func (c *Consumer) log() *slog.Logger {
	if c.Log == nil {
		return slog.Default()
	}
	return c.Log
}

// excerpt shortens a body for a log line.
func excerpt(s string) string {
	const max = 512
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
