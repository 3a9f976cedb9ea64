package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/latchhq/latch/pkg/sqsqueue"
)

// maxReceiveCount is how many receives of a message of the events queue
// SQS allows before it moves it to the dead-letter queue: far more than
// the approvals function's own limit (it moves a message that failed 5
// times aside itself), because every receive counts against the messages
// held behind a failing one in its group. The reasoning is in
// pkg/sqsqueue's documentation, "Poison messages".
const maxReceiveCount = sqsqueue.QueueMaxReceiveCount

// dlqRetention keeps dead letters as long as SQS allows.
var dlqRetention = awscdk.Duration_Days(jsii.Number(14))

// queues are the stack's SQS queues.
type queues struct {
	// Events carries commands to the approvals function, in order per
	// request (the message group) and deduplicated by the sender's
	// MessageDeduplicationId (the command's id).
	Events awssqs.Queue
	// EventsDLQ receives the events the approvals function failed
	// maxReceiveCount times.
	EventsDLQ awssqs.Queue
	// GrantsDLQ receives, from the state machine, the grants whose escalate
	// or revoke failed for good: access that may be left in place.
	GrantsDLQ awssqs.Queue
	// AuditDLQ receives the stream records the audit function could not
	// ship (the on-failure destination of its event source mapping).
	AuditDLQ awssqs.Queue
	// SlackWorkDLQ receives the slack function's work after an answer to
	// Slack (its asynchronous invocations of itself) that failed or could
	// not run in time: the on-failure destination of its asynchronous
	// invocations. Each failure has raised the SlackErrors alarm.
	SlackWorkDLQ awssqs.Queue
}

func newQueues(stack awscdk.Stack) *queues {
	q := &queues{}
	q.EventsDLQ = awssqs.NewQueue(stack, jsii.String("EventsDLQ"), &awssqs.QueueProps{
		Fifo:                      jsii.Bool(true),
		RetentionPeriod:           dlqRetention,
		Encryption:                awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:                jsii.Bool(true),
		ContentBasedDeduplication: jsii.Bool(false),
	})
	q.Events = awssqs.NewQueue(stack, jsii.String("Events"), &awssqs.QueueProps{
		Fifo: jsii.Bool(true),
		// The sender sets MessageDeduplicationId to the command's id.
		ContentBasedDeduplication: jsii.Bool(false),
		// At least 6× the consumer's timeout, as AWS advises for Lambda
		// event sources, so a message is not seen again while a batch is
		// still being worked on (and retried by the Lambda service).
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * approvalsTimeout.Seconds())),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(4)),
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           q.EventsDLQ,
			MaxReceiveCount: jsii.Number(maxReceiveCount),
		},
	})
	standardDLQ := func(id string) awssqs.Queue {
		return awssqs.NewQueue(stack, jsii.String(id), &awssqs.QueueProps{
			RetentionPeriod: dlqRetention,
			Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:      jsii.Bool(true),
		})
	}
	q.GrantsDLQ = standardDLQ("GrantsDLQ")
	q.AuditDLQ = standardDLQ("AuditDLQ")
	q.SlackWorkDLQ = standardDLQ("SlackWorkDLQ")
	return q
}

// deadLetterQueues returns the dead-letter queues by construct id, for alarms.
func (q *queues) deadLetterQueues() map[string]awssqs.Queue {
	return map[string]awssqs.Queue{"EventsDLQ": q.EventsDLQ, "GrantsDLQ": q.GrantsDLQ, "AuditDLQ": q.AuditDLQ, "SlackWorkDLQ": q.SlackWorkDLQ}
}
