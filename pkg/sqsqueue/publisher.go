package sqsqueue

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
)

// SendAPI is the part of the SQS client the Publisher uses; *sqs.Client
// implements it.
type SendAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Publisher sends messages to the SQS FIFO events queue. It is a latch.Queue:
// Publish returns once SQS has accepted the command, not once it is handled.
type Publisher struct {
	Client   SendAPI
	QueueURL string
	// Clock stamps commands that carry no time, and creates; nil means
	// latch.SystemClock.
	Clock latch.Clock
}

var _ latch.Queue = (*Publisher)(nil)

// Publish sends cmd, stamped with the publisher's time if it has none.
func (p *Publisher) Publish(ctx context.Context, cmd latch.Command) error {
	if cmd.At.IsZero() {
		cmd.At = p.now()
	}
	return p.Send(ctx, events.FromCommand(cmd))
}

// PublishCreate hands a new request to the approvals function, which creates
// it with engine.Create. in.ID must be set: it is the id the edge chose and
// told the person, and the create's group and dedup key. The emails are
// normalized as the engine would. Its signature is that of the Submit hooks
// of the Slack app and the HTTP API.
func (p *Publisher) PublishCreate(ctx context.Context, in engine.CreateInput) error {
	if strings.TrimSpace(in.ID) == "" {
		return errors.New("sqsqueue: a create needs the request id the edge chose")
	}
	c := CreateOf(in)
	c.UserEmail = latch.NormalizeEmail(c.UserEmail)
	c.CreatedBy.Email = latch.NormalizeEmail(c.CreatedBy.Email)
	return p.Send(ctx, events.FromCreate(c, p.now()))
}

// Send validates m and sends it: group GroupID(m), deduplication id
// DedupID(m), body Body(m).
func (p *Publisher) Send(ctx context.Context, m events.Message) error {
	body, err := Body(m)
	if err != nil {
		return err
	}
	_, err = p.Client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:               aws.String(p.QueueURL),
		MessageBody:            aws.String(body),
		MessageGroupId:         aws.String(GroupID(m)),
		MessageDeduplicationId: aws.String(DedupID(m)),
	})
	if err != nil {
		return fmt.Errorf("sqsqueue: send %s message %s: %w", m.Type, m.ID, err)
	}
	return nil
}

func (p *Publisher) now() time.Time {
	if p.Clock == nil {
		return latch.SystemClock.Now()
	}
	return p.Clock.Now()
}

// Body returns the SQS message body of m: its JSON (events.Marshal), with the
// two characters JSON allows but SQS refuses in a body (U+FFFE and U+FFFF,
// which can occur only inside strings) written as \u escapes, so that the
// body reads back to the same message. It fails if m is invalid or the body
// is larger than events.MaxSize, the most a reader accepts.
func Body(m events.Message) (string, error) {
	b, err := events.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("sqsqueue: %w", err)
	}
	if bytes.ContainsAny(b, "\uFFFE\uFFFF") {
		b = bytes.ReplaceAll(b, []byte("\uFFFE"), []byte(`\ufffe`))
		b = bytes.ReplaceAll(b, []byte("\uFFFF"), []byte(`\uffff`))
	}
	if len(b) > events.MaxSize {
		return "", fmt.Errorf("sqsqueue: %s message %s is %d bytes, more than the %d a reader accepts", m.Type, m.ID, len(b), events.MaxSize)
	}
	return string(b), nil
}

// GroupID returns the SQS message group of m: its order key, in a form SQS
// accepts (FIFOID).
func GroupID(m events.Message) string { return FIFOID(m.OrderKey()) }

// DedupID returns the SQS deduplication id of m: its id, in a form SQS
// accepts (FIFOID).
func DedupID(m events.Message) string { return FIFOID(m.ID) }

// MaxIDLen is the longest group or deduplication id SQS accepts.
const MaxIDLen = 128

const hashPrefix = "sha256:"

// FIFOID returns s as an SQS group or deduplication id: s itself when it is
// 1 to MaxIDLen characters of printable ASCII other than space (the
// alphanumerics and punctuation SQS allows) and does not start with
// "sha256:"; otherwise "sha256:" and the hex SHA-256 of s. Different ids
// give different results.
func FIFOID(s string) string {
	if s != "" && len(s) <= MaxIDLen && !strings.HasPrefix(s, hashPrefix) && printable(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// printable reports whether s is all '!' to '~': ASCII letters, digits and
// punctuation.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Message attributes of a message moved to the dead-letter queue by the
// Consumer (DeadLetters.Send).
const (
	AttrMovedReason   = "latch-moved-aside-reason"   // why it failed the last time
	AttrMovedFrom     = "latch-moved-aside-from"     // its SQS message id in the events queue
	AttrMovedReceives = "latch-moved-aside-receives" // its receive count there
)

// DeadLetters sends the poison messages the Consumer moves aside to the
// events queue's FIFO dead-letter queue, in their message group, with
// their deduplication id (or their SQS message id) and the reason.
type DeadLetters struct {
	Client   SendAPI
	QueueURL string
}

// Send is the Consumer's MoveAside.
func (d *DeadLetters) Send(ctx context.Context, rec lambdaevents.SQSMessage, reason error) error {
	group := rec.Attributes[attrGroup]
	if group == "" {
		group = "unknown"
	}
	dedup := rec.Attributes["MessageDeduplicationId"]
	if dedup == "" {
		dedup = rec.MessageId
	}
	why := "unknown"
	if reason != nil {
		why = excerpt(reason.Error())
	}
	str := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err := d.Client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(d.QueueURL), MessageBody: aws.String(rec.Body),
		MessageGroupId: aws.String(group), MessageDeduplicationId: aws.String(dedup), // as SQS accepted them
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			AttrMovedReason: str(why), AttrMovedFrom: str(rec.MessageId),
			AttrMovedReceives: str(cmp.Or(rec.Attributes["ApproximateReceiveCount"], "?")),
		},
	})
	if err != nil {
		return fmt.Errorf("sqsqueue: move message %s to the dead-letter queue: %w", rec.MessageId, err)
	}
	return nil
}
