package sqsqueue_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

// poisonAndRevoke are two commands on one request, so in one message
// group: a poison message (its handling fails every time) and, behind it, a
// person's early revoke.
func poisonAndRevoke() (poison, revoke events.Message) {
	poison = events.FromCommand(latch.Command{ID: "cmd_poison", Kind: latch.CmdApprove, RequestID: "req_poison",
		Actor: latch.Actor{Email: "bob@example.com"}, At: at})
	revoke = events.FromCommand(latch.Command{ID: "cmd_revoke", Kind: latch.CmdRevoke, RequestID: "req_poison",
		Actor: latch.Actor{Email: "ann@example.com"}, Reason: "done early", At: at})
	return poison, revoke
}

func poisonHandlers() *handlers {
	return &handlers{answer: map[string]func() error{
		"cmd_poison": func() error { return errors.New("a bug this build cannot get past") },
	}}
}

// On SQS a batch holds the later messages of a group behind a failing one,
// and every receive counts against each of them. The consumer moves the
// poison message aside once it has failed PoisonAfter times, before the
// queue's maxReceiveCount sends the revoke behind it to the dead-letter
// queue unhandled.
func TestPoisonMessageIsMovedAsideBeforeTheRevokeBehindIt(t *testing.T) {
	poison, revoke := poisonAndRevoke()
	h := poisonHandlers()
	c, logs := consumer(h)
	var moved []string
	c.MoveAside = func(_ context.Context, rec lambdaevents.SQSMessage, reason error) error {
		moved = append(moved, rec.MessageId)
		if !strings.Contains(reason.Error(), "cannot get past") {
			t.Errorf("moved aside for %v", reason)
		}
		return nil
	}
	queue := []lambdaevents.SQSMessage{record(t, "sqs-poison", poison), record(t, "sqs-revoke", revoke)}
	var deadLettered []string // by SQS, at maxReceiveCount
	for receive := 1; len(queue) > 0 && receive <= 100; receive++ {
		for i := range queue {
			queue[i].Attributes["ApproximateReceiveCount"] = strconv.Itoa(receive)
		}
		resp, _ := c.Consume(t.Context(), lambdaevents.SQSEvent{Records: queue})
		failed := failures(resp)
		var next []lambdaevents.SQSMessage
		for _, rec := range queue {
			switch {
			case !slices.Contains(failed, rec.MessageId):
			case receive >= sqsqueue.QueueMaxReceiveCount:
				deadLettered = append(deadLettered, rec.MessageId)
			default:
				next = append(next, rec)
			}
		}
		queue = next
	}
	if len(deadLettered) > 0 {
		t.Errorf("SQS sent %v to the dead-letter queue unhandled", deadLettered)
	}
	if !slices.Equal(moved, []string{"sqs-poison"}) {
		t.Errorf("moved aside %v, want the poison message alone", moved)
	}
	if !slices.Contains(h.handled, "cmd_revoke") {
		t.Errorf("the revoke was never handled; handled %v", h.handled)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "poison message moved to the dead-letter queue") {
		t.Errorf("no ERROR line for the poison message:\n%s", logs)
	}
	if sqsqueue.QueueMaxReceiveCount <= sqsqueue.DefaultPoisonAfter {
		t.Errorf("QueueMaxReceiveCount %d must exceed DefaultPoisonAfter %d", sqsqueue.QueueMaxReceiveCount, sqsqueue.DefaultPoisonAfter)
	}
}

// A poison message that cannot be moved aside (the dead-letter queue
// refuses) stays, and holds its group: nothing is lost.
func TestPoisonMessageStaysWhenItCannotBeMoved(t *testing.T) {
	poison, revoke := poisonAndRevoke()
	h := poisonHandlers()
	c, _ := consumer(h)
	c.MoveAside = func(context.Context, lambdaevents.SQSMessage, error) error { return errors.New("AccessDenied") }
	recs := []lambdaevents.SQSMessage{record(t, "sqs-poison", poison), record(t, "sqs-revoke", revoke)}
	for i := range recs {
		recs[i].Attributes["ApproximateReceiveCount"] = strconv.Itoa(sqsqueue.DefaultPoisonAfter)
	}
	resp, _ := c.Consume(t.Context(), lambdaevents.SQSEvent{Records: recs})
	if got := failures(resp); !slices.Equal(got, []string{"sqs-poison", "sqs-revoke"}) {
		t.Errorf("failures %v, want both, in order", got)
	}
}

// On goaws: the consumer, driven as Lambda's event source mapping drives it
// (receive up to 10, hand over the batch, delete what is done, leave the
// failures to their visibility timeout), moves a poison message ahead of a
// revoke in the same group to the FIFO dead-letter queue, with its group and
// the reason, and the revoke is handled.
//
// goaws reports every receive as the first (ApproximateReceiveCount 1) and
// does not return the group id, so the loop below counts receives per
// message and sets the attributes Lambda would pass on from SQS.
func TestPoisonMessageOnGoaws(t *testing.T) {
	ctx := t.Context()
	client := sqsClient()
	queueURL := newFIFOQueue(t, "events-poison")
	dlqURL := newFIFOQueue(t, "events-poison-dlq")
	if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		Attributes: map[string]string{"VisibilityTimeout": "1"}}); err != nil {
		t.Fatal(err)
	}
	pub := &sqsqueue.Publisher{Client: client, QueueURL: queueURL}
	poison, revoke := poisonAndRevoke()
	sent := map[string]events.Message{} // body → message
	for _, m := range []events.Message{poison, revoke} {
		if err := pub.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
		body, _ := sqsqueue.Body(m)
		sent[body] = m
	}

	h := poisonHandlers()
	c, logs := consumer(h)
	c.PoisonAfter = 3
	c.MoveAside = (&sqsqueue.DeadLetters{Client: client, QueueURL: dlqURL}).Send
	receives := map[string]int{}
	deadline := time.Now().Add(2 * time.Minute)
	for !slices.Contains(h.handled, "cmd_revoke") {
		if time.Now().After(deadline) {
			t.Fatalf("the revoke was not handled in time; handled %v; log:\n%s", h.handled, logs)
		}
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		var ev lambdaevents.SQSEvent
		handles := map[string]string{}
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			receives[id]++
			msg := sent[aws.ToString(m.Body)]
			handles[id] = aws.ToString(m.ReceiptHandle)
			ev.Records = append(ev.Records, lambdaevents.SQSMessage{MessageId: id, Body: aws.ToString(m.Body), EventSource: "aws:sqs",
				Attributes: map[string]string{"MessageGroupId": sqsqueue.GroupID(msg), "MessageDeduplicationId": sqsqueue.DedupID(msg),
					"ApproximateReceiveCount": strconv.Itoa(receives[id])}})
		}
		if len(ev.Records) == 0 {
			continue
		}
		resp, _ := c.Consume(ctx, ev)
		failed := failures(resp)
		for id, rh := range handles {
			if slices.Contains(failed, id) {
				continue
			}
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: aws.String(rh)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := strings.Count(strings.Join(h.handled, ","), "cmd_poison"); n != 3 {
		t.Errorf("the poison message was tried %d times, want PoisonAfter (3)", n)
	}

	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlqURL), MaxNumberOfMessages: 10,
		WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("the dead-letter queue holds %d messages, want the poison one", len(out.Messages))
	}
	dl := out.Messages[0]
	if m, ok := sent[aws.ToString(dl.Body)]; !ok || m.ID != "cmd_poison" {
		t.Errorf("the dead letter is %q, want the poison message", aws.ToString(dl.Body))
	}
	attr := func(name string) string {
		v, ok := dl.MessageAttributes[name]
		if !ok {
			return ""
		}
		return aws.ToString(v.StringValue)
	}
	if !strings.Contains(attr(sqsqueue.AttrMovedReason), "cannot get past") || attr(sqsqueue.AttrMovedReceives) != "3" || attr(sqsqueue.AttrMovedFrom) == "" {
		t.Errorf("dead letter attributes %v", dl.MessageAttributes)
	}
}
