package sqsqueue_test

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

var publishedAt = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func publisher(queueURL string) *sqsqueue.Publisher {
	return &sqsqueue.Publisher{Client: sqsClient(), QueueURL: queueURL,
		Clock: latch.ClockFunc(func() time.Time { return publishedAt })}
}

// stored is a message as goaws keeps it. goaws does not return the
// MessageGroupId and MessageDeduplicationId attributes from ReceiveMessage
// (it answers with a fixed set of attributes), so the tests read what it
// recorded from its queue.
type stored struct{ Group, Dedup, Body string }

func storedMessages(t *testing.T, queueURL string) []stored {
	t.Helper()
	models.SyncQueues.RLock()
	defer models.SyncQueues.RUnlock()
	q, ok := models.SyncQueues.Queues[path.Base(queueURL)]
	if !ok {
		t.Fatalf("goaws has no queue %s", queueURL)
	}
	var out []stored
	for _, m := range q.Messages {
		out = append(out, stored{Group: m.GroupID, Dedup: m.DeduplicationID, Body: m.MessageBody})
	}
	return out
}

// receive reads up to 10 messages with the SDK and returns them decoded,
// with their receipt handles.
func receive(t *testing.T, queueURL string) ([]events.Message, []string) {
	t.Helper()
	out, err := sqsClient().ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
		MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	var msgs []events.Message
	var handles []string
	for _, m := range out.Messages {
		msg, err := events.Unmarshal([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatalf("a received body does not read back: %v\n%s", err, aws.ToString(m.Body))
		}
		msgs = append(msgs, msg)
		handles = append(handles, aws.ToString(m.ReceiptHandle))
	}
	return msgs, handles
}

func deleteAll(t *testing.T, queueURL string, handles []string) {
	t.Helper()
	for _, h := range handles {
		if _, err := sqsClient().DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL),
			ReceiptHandle: aws.String(h)}); err != nil {
			t.Fatalf("DeleteMessage: %v", err)
		}
	}
}

func TestPublisherSendsToTheFIFOQueue(t *testing.T) {
	ctx := context.Background()
	queue := newFIFOQueue(t, "publish")
	p := publisher(queue)

	approve := latch.Command{ID: "cmd_01JDQ4A1B2C3D4E5F6G7H8J9K0", Kind: latch.CmdApprove, RequestID: requestID,
		Actor: latch.Actor{Email: "grace@example.com"}, Reason: "Looks right", Source: latch.SourceSlack, At: at}
	create := engine.CreateInput{ID: "req_01JDQ5NEWREQUEST00000000", Flow: "prod-db", UserEmail: " Ada@Example.com",
		CreatedBy: latch.Actor{Email: "Ada@Example.com", Bot: "deploy-bot"}, Source: latch.SourceAPI,
		Fields:  map[string]any{"reason": "deploy", "priority": 2, "tickets": []string{"OPS-1", "OPS-2"}},
		Context: map[string]any{"ci": map[string]any{"run": 4211}}}
	escalated := latch.Command{ID: "escalated/" + grantID + "/v2", Kind: latch.CmdEscalated, GrantID: grantID} // no time

	if err := p.Publish(ctx, approve); err != nil {
		t.Fatalf("Publish approve: %v", err)
	}
	if err := p.PublishCreate(ctx, create); err != nil {
		t.Fatalf("PublishCreate: %v", err)
	}
	if err := p.Publish(ctx, escalated); err != nil {
		t.Fatalf("Publish escalated: %v", err)
	}

	// Groups: the request for its command and its create, the grant for its
	// report. Dedup ids: the message ids.
	got := storedMessages(t, queue)
	want := []stored{
		{Group: requestID, Dedup: approve.ID},
		{Group: create.ID, Dedup: "create/" + create.ID},
		{Group: grantID, Dedup: escalated.ID},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b stored) bool { return a.Group == b.Group && a.Dedup == b.Dedup })); diff != "" {
		t.Errorf("stored messages (-want +got):\n%s", diff)
	}

	msgs, handles := receive(t, queue)
	if len(msgs) != 3 {
		t.Fatalf("received %d messages, want 3", len(msgs))
	}
	escalated.At = publishedAt // stamped by the publisher
	for i, wantCmd := range []latch.Command{approve, escalated} {
		m := msgs[2*i] // the approve, then the report
		cmd, err := m.Command()
		if err != nil {
			t.Fatalf("Command: %v", err)
		}
		if diff := cmp.Diff(wantCmd, cmd); diff != "" {
			t.Errorf("command round trip (-want +got):\n%s", diff)
		}
	}
	if msgs[1].At != publishedAt {
		t.Errorf("create at %v, want the publisher's time %v", msgs[1].At, publishedAt)
	}
	c, err := msgs[1].Create()
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	// Emails normalized as the engine would; values as JSON gives them back.
	wantIn := engine.CreateInput{ID: create.ID, Flow: "prod-db", UserEmail: "ada@example.com",
		CreatedBy: latch.Actor{Email: "ada@example.com", Bot: "deploy-bot"}, Source: latch.SourceAPI,
		Fields:  map[string]any{"reason": "deploy", "priority": float64(2), "tickets": []any{"OPS-1", "OPS-2"}},
		Context: map[string]any{"ci": map[string]any{"run": float64(4211)}}}
	if diff := cmp.Diff(wantIn, sqsqueue.CreateInput(c)); diff != "" {
		t.Errorf("create round trip (-want +got):\n%s", diff)
	}
	deleteAll(t, queue, handles)
}

func TestPublisherKeepsARequestsMessagesInOrder(t *testing.T) {
	ctx := context.Background()
	queue := newFIFOQueue(t, "order")
	p := publisher(queue)
	first := latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", Actor: latch.Actor{Email: "grace@example.com"}, At: at}
	second := latch.Command{ID: "c2", Kind: latch.CmdCancel, RequestID: "r1", Actor: latch.Actor{Email: "ada@example.com"}, At: at}
	for _, cmd := range []latch.Command{first, second} {
		if err := p.Publish(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	// While the first message of the group is in flight, the second waits.
	msgs, handles := receive(t, queue)
	if len(msgs) != 1 || msgs[0].ID != "c1" {
		t.Fatalf("first receive got %v, want c1 alone", ids(msgs))
	}
	if more, _ := receive(t, queue); len(more) != 0 {
		t.Fatalf("second receive got %v while c1 is in flight, want nothing", ids(more))
	}
	deleteAll(t, queue, handles)
	msgs, handles = receive(t, queue)
	if len(msgs) != 1 || msgs[0].ID != "c2" {
		t.Fatalf("after deleting c1 got %v, want c2", ids(msgs))
	}
	deleteAll(t, queue, handles)
}

func ids(msgs []events.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

func TestPublisherDeduplicates(t *testing.T) {
	ctx := context.Background()
	queue := newFIFOQueue(t, "dedup")
	now := publishedAt
	p := &sqsqueue.Publisher{Client: sqsClient(), QueueURL: queue, Clock: latch.ClockFunc(func() time.Time { return now })}
	cmd := latch.Command{ID: "c1", Kind: latch.CmdDeny, RequestID: "r1", Actor: latch.Actor{Email: "grace@example.com"}, At: at}
	create := engine.CreateInput{ID: "r2", Flow: "prod-db", UserEmail: "ada@example.com", Source: latch.SourceSlack}
	for range 2 {
		if err := p.Publish(ctx, cmd); err != nil {
			t.Fatal(err)
		}
		// A retried create is a second message (its time differs), with
		// the same dedup id.
		if err := p.PublishCreate(ctx, create); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	msgs, handles := receive(t, queue)
	if diff := cmp.Diff([]string{"c1", "create/r2"}, ids(msgs)); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
	deleteAll(t, queue, handles)

	// Another id is another message. (SQS keeps a dedup id for its five
	// minutes even after the message is deleted; goaws forgets it on
	// DeleteMessage, so that is not checked here.)
	cmd.ID = "c2"
	if err := p.Publish(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	msgs, handles = receive(t, queue)
	if diff := cmp.Diff([]string{"c2"}, ids(msgs)); diff != "" {
		t.Errorf("received after the first messages (-want +got):\n%s", diff)
	}
	deleteAll(t, queue, handles)
}

func TestPublisherHashesIDsSQSWouldRefuse(t *testing.T) {
	ctx := context.Background()
	queue := newFIFOQueue(t, "hashed")
	p := publisher(queue)
	longID := "due/" + grantID + "/" + strings.Repeat("9", 120)
	due := latch.Command{ID: longID, Kind: latch.CmdDue, GrantID: grantID, At: at}
	create := engine.CreateInput{ID: "req from the edge", Flow: "prod-db", UserEmail: "ada@example.com", Source: latch.SourceAPI}
	if err := p.Publish(ctx, due); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishCreate(ctx, create); err != nil {
		t.Fatal(err)
	}
	got := storedMessages(t, queue)
	want := []stored{
		{Group: grantID, Dedup: sqsqueue.FIFOID(longID)},
		{Group: sqsqueue.FIFOID(create.ID), Dedup: sqsqueue.FIFOID("create/" + create.ID)},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b stored) bool { return a.Group == b.Group && a.Dedup == b.Dedup })); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	for _, s := range got {
		if !strings.HasPrefix(s.Dedup, "sha256:") {
			t.Errorf("dedup id %q is not hashed", s.Dedup)
		}
	}
	msgs, handles := receive(t, queue)
	if diff := cmp.Diff([]string{longID, "create/" + create.ID}, ids(msgs)); diff != "" {
		t.Errorf("the bodies keep the ids (-want +got):\n%s", diff)
	}
	deleteAll(t, queue, handles)
}

func TestPublisherReportsSQSErrors(t *testing.T) {
	p := publisher(goawsURL + "/100010001000/missing.fifo")
	err := p.Publish(context.Background(), latch.Command{ID: "c1", Kind: latch.CmdExpire, RequestID: "r1", At: at})
	if err == nil {
		t.Fatal("Publish to a queue that does not exist succeeded")
	}
	if !strings.Contains(err.Error(), "sqsqueue: send expire message c1") {
		t.Errorf("error = %v, want it to name the message", err)
	}
}

// countingSQS counts sends and keeps the last input.
type countingSQS struct {
	n    int
	last *sqs.SendMessageInput
}

func (c *countingSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	c.n++
	c.last = in
	return &sqs.SendMessageOutput{}, nil
}

func TestPublisherRefusesWhatNoReaderWouldRead(t *testing.T) {
	ctx := context.Background()
	fake := &countingSQS{}
	p := &sqsqueue.Publisher{Client: fake, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/latch-events.fifo"}
	tests := []struct {
		name    string
		publish func() error
		wantErr error
		wantIn  string
	}{
		{name: "an approve by nobody", publish: func() error {
			return p.Publish(ctx, latch.Command{ID: "c1", Kind: latch.CmdApprove, RequestID: "r1", At: at})
		}, wantErr: events.ErrInvalid, wantIn: "actor is required"},
		{name: "a command without id", publish: func() error {
			return p.Publish(ctx, latch.Command{Kind: latch.CmdExpire, RequestID: "r1"})
		}, wantErr: events.ErrInvalid, wantIn: "id is required"},
		{name: "a create without the request id", publish: func() error {
			return p.PublishCreate(ctx, engine.CreateInput{Flow: "f", UserEmail: "ada@example.com", Source: latch.SourceAPI})
		}, wantIn: "needs the request id"},
		{name: "a create from the schedule", publish: func() error {
			return p.PublishCreate(ctx, engine.CreateInput{ID: "r1", Flow: "f", UserEmail: "ada@example.com", Source: latch.SourceSchedule})
		}, wantErr: events.ErrInvalid, wantIn: `source "schedule"`},
		{name: "too large", publish: func() error {
			return p.PublishCreate(ctx, engine.CreateInput{ID: "r1", Flow: "f", UserEmail: "ada@example.com", Source: latch.SourceAPI,
				Fields: map[string]any{"reason": strings.Repeat("x", events.MaxSize)}})
		}, wantIn: "more than the 262144 a reader accepts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.publish()
			if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error = %v, want one wrapping %v containing %q", err, tt.wantErr, tt.wantIn)
			}
		})
	}
	if fake.n != 0 {
		t.Errorf("%d messages sent, want none", fake.n)
	}
	// A command without a time is stamped with the system clock.
	if err := p.Publish(ctx, latch.Command{ID: "c1", Kind: latch.CmdExpire, RequestID: "r1"}); err != nil {
		t.Fatal(err)
	}
	m, err := events.Unmarshal([]byte(aws.ToString(fake.last.MessageBody)))
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(m.At) > time.Minute || m.At.Location() != time.UTC {
		t.Errorf("at = %v, want now in UTC", m.At)
	}
	if got := aws.ToString(fake.last.QueueUrl); got != p.QueueURL {
		t.Errorf("queue = %s", got)
	}
}

func TestFIFOID(t *testing.T) {
	punctuation := "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	tests := []struct {
		give   string
		hashed bool
	}{
		{give: "cmd_01JDQ4A1B2C3D4E5F6G7H8J9K0"},
		{give: "escalated/grt_x/v2"},
		{give: "due/grt_x/1795609800000000000"},
		{give: punctuation + "azAZ09"},
		{give: strings.Repeat("a", sqsqueue.MaxIDLen)},
		{give: strings.Repeat("a", sqsqueue.MaxIDLen+1), hashed: true},
		{give: "", hashed: true},
		{give: "with space", hashed: true},
		{give: "tab\there", hashed: true},
		{give: "café", hashed: true},
		{give: "del\x7f", hashed: true},
		{give: "sha256:" + strings.Repeat("0", 64), hashed: true}, // looks hashed: hashed again, so it cannot collide
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := sqsqueue.FIFOID(tt.give)
		if tt.hashed != (got != tt.give) {
			t.Errorf("FIFOID(%q) = %q; hashed = %v, want %v", tt.give, got, got != tt.give, tt.hashed)
		}
		if len(got) < 1 || len(got) > sqsqueue.MaxIDLen || strings.ContainsFunc(got, func(r rune) bool { return r < '!' || r > '~' }) {
			t.Errorf("FIFOID(%q) = %q, which SQS refuses", tt.give, got)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("FIFOID(%q) = FIFOID(%q) = %q", tt.give, other, got)
		}
		seen[got] = tt.give
	}
	if sqsqueue.FIFOID("x y") != sqsqueue.FIFOID("x y") {
		t.Error("FIFOID is not deterministic")
	}
}

// sqsAllowed reports whether r may appear in an SQS message body: #x9, #xA,
// #xD, #x20 to #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF.
func sqsAllowed(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

func TestBodyIsWhatSQSAccepts(t *testing.T) {
	reason := "tab\t nul\x00 del\x7f bom\ufeff nonchars\ufffe\uffff astral\U0001F512 replaced\xff"
	m := events.FromCreate(events.Create{RequestID: "r1", Flow: "f", UserEmail: "ada@example.com", Source: latch.SourceAPI,
		Fields: map[string]any{"reason": reason, "\uffff": true}}, at)
	body, err := sqsqueue.Body(m)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.ValidString(body) {
		t.Fatalf("body is not UTF-8: %q", body)
	}
	for i, r := range body {
		if !sqsAllowed(r) {
			t.Errorf("body has %U at %d, which SQS refuses", r, i)
		}
	}
	read, err := events.Unmarshal([]byte(body))
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := strings.ToValidUTF8(reason, "\ufffd") // JSON carries text, so the invalid byte becomes U+FFFD
	if got := read.Fields["reason"]; got != want {
		t.Errorf("reason read back as %q, want %q", got, want)
	}
	if read.Fields["\uffff"] != true {
		t.Errorf("fields read back as %v", read.Fields)
	}
}
