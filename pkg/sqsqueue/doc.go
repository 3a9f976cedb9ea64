// Package sqsqueue carries Latch's messages (package events) over the SQS FIFO
// "events" queue on AWS: the Publisher sends them (it is the latch.Queue of
// the Slack and API functions, and hands new requests over with
// PublishCreate), and the Consumer is the approvals function's handler of the
// batches Lambda delivers from the queue.
//
// # Ordering
//
// Every message is sent with its events.Message.OrderKey as the SQS message
// group: the request id for a create and for the commands on a request, the
// grant id for the grant runner's reports. SQS delivers the messages of one
// group in the order they were sent, one batch of a group at a time, so a
// request is created before any command on it is handled, and two commands on
// one request never race. Messages of different groups are independent.
//
// # Deduplication
//
// The deduplication id is the message's own id (events.Message.ID): a message
// sent twice within SQS's five-minute deduplication interval is delivered
// once. The ids Latch makes are deterministic where it matters — a create
// is "create/<request id>", and the grant runner names its reports after the
// grant and the state reported — so an edge or a state machine that retries
// a send does not enqueue a second message. Beyond the queue, the engine records every command's id
// with the change it commits (and a create's request id), so a message that
// arrives twice anyway acts once.
//
// SQS takes 1 to 128 characters of printable ASCII (no space) for both the
// group and the deduplication id. An id that fits is sent as it is, readable
// in the console; any other is sent as "sha256:" and the hex SHA-256 of the
// id (as is an id that itself starts with "sha256:", so two different ids
// never share a form).
//
// # Failures
//
// The Consumer reports failures per message (the event source mapping must
// set ReportBatchItemFailures): Lambda deletes the messages that are done and
// makes the failed ones visible again after the visibility timeout; after the
// queue's maxReceiveCount receives a message moves to the dead-letter queue.
// For each record, in order:
//
//   - a message this build cannot read (events.ErrVersion, ErrType,
//     ErrInvalid), or one that has no business on this queue (a grant task),
//     is logged and reported failed: it waits in the dead-letter queue for a
//     build that reads it, or for a person;
//   - a refusal that retrying cannot change — a *latch.Error whose kind is
//     not internal or too_many (forbidden, conflict, not_found, invalid, ...),
//     and engine.ErrExists for a create — is logged and done: the same
//     message would be refused the same way every time;
//   - any other error (the store or a port failed, a write lost to
//     concurrent writers too often — latch.ErrConflict —, the function ran
//     out of time, a panic) is logged and reported failed, to be retried;
//   - once a record of a message group has failed, every later record of the
//     same group in the batch is reported failed without being handled, so
//     that the group is retried in order. Records of other groups go on.
//
// # Poison messages
//
// A message whose handling keeps failing would hold its group for ever, and
// on SQS it does worse: a batch carries the group's later messages behind
// it, each receive counts against all of them, and at the queue's
// maxReceiveCount SQS moves them all to the dead-letter queue — a person's
// early revoke among them, never handled. So the Consumer moves a message
// aside itself: one that fails (any failure above, unreadable included)
// with an ApproximateReceiveCount of PoisonAfter or more (default
// DefaultPoisonAfter, 5) is sent to the dead-letter queue by MoveAside
// (DeadLetters: same body, group and deduplication id, and message
// attributes saying why, from which message and after how many receives),
// logged at ERROR ("poison message moved to the dead-letter queue"), and
// reported done; the later messages of its group are handled in the same
// batch. The queue's maxReceiveCount (QueueMaxReceiveCount, 20) is far
// above it, so that a message held behind up to three poison messages
// still has tries of its own; it remains the last resort for a message the
// consumer never reports on. One cost remains: a message held behind a
// poison one has a receive count as high as the poison's when it reaches
// the head, so a transient failure of its own moves it aside at once; the
// dead-letter queue's alarm fires, and a redrive (docs/aws.md) hands it back.
// Moving aside is logged and alarmed rather than written to the audit log:
// the consumer holds no store, and the message names a request that the
// dead letter still carries in full.
package sqsqueue
