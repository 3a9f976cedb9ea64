package main

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
)

// newAlarms raises an alarm, to one SNS topic, whenever something needs a
// person: a dead letter in any DLQ, a revoke that failed for good, a failed
// or timed-out grant execution, a function error. Every alarm fires on the
// first occurrence (threshold: more than 0) and treats missing data as OK.
func newAlarms(stack awscdk.Stack, p *LatchStackProps, q *queues, fs *functions, sm awsstepfunctions.StateMachine) awssns.Topic {
	topic := awssns.NewTopic(stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("Latch alarms"),
	})
	if p.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(topic)
	alarm := func(id, desc string, m awscloudwatch.Metric) {
		a := m.CreateAlarm(stack, jsii.String(id), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String(desc),
			Threshold:          jsii.Number(0),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	maxOver := &awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Maximum")}
	sumOver := func(period awscdk.Duration) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}
	}

	alarm("EventsDLQNotEmpty", "Latch: events the approvals function failed "+strconv.Itoa(maxReceiveCount)+
		" times are in the events DLQ; they were not applied. Inspect them, fix the cause, redrive.",
		q.EventsDLQ.MetricApproximateNumberOfMessagesVisible(maxOver))
	alarm("GrantsDLQNotEmpty", "Latch: a grant's escalate or revoke failed for good (see the grants DLQ): access may not "+
		"have been granted, or may still be in place. Fix the cause, then retry the request as an admin.",
		q.GrantsDLQ.MetricApproximateNumberOfMessagesVisible(maxOver))
	alarm("AuditDLQNotEmpty", "Latch: audit events could not be shipped to a destination (see the audit DLQ). "+
		"They are still in the table.",
		q.AuditDLQ.MetricApproximateNumberOfMessagesVisible(maxOver))
	// The DLQ depth alarm stays in ALARM until the queue is emptied; this one
	// fires again for every new failed revoke.
	alarm("RevokeFailed", "Latch: the grant lifecycle gave up on a grant (a failed revoke leaves access in place). "+
		"See the grants DLQ and the state machine's failed step.",
		q.GrantsDLQ.MetricNumberOfMessagesSent(sumOver(minute)))
	alarm("GrantExecutionsFailed", "Latch: a grant lifecycle execution failed.", sm.MetricFailed(sumOver(minute)))
	alarm("GrantExecutionsTimedOut", "Latch: a grant lifecycle execution timed out.", sm.MetricTimedOut(sumOver(minute)))
	for _, f := range fs.All {
		alarm(camel(f.Name)+"Errors", "Latch: the "+f.Name+" function failed (see its log group).",
			f.Fn.MetricErrors(sumOver(fiveMinutes)))
	}
	return topic
}
