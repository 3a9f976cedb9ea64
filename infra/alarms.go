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

// Thresholds of the alarms on waiting.
const (
	oldestMessageSeconds = 300
	iteratorAgeMillis    = 600_000
)

// newAlarms raises an alarm, to one SNS topic, whenever something needs a
// person: a dead letter in any DLQ, a revoke that failed for good, a failed
// grant execution, a message or audit event waiting too long, a throttled
// function, a reconciler that fails or stops, an error of an edge or of
// approvals. Every alarm fires on the
// first occurrence (threshold: more than 0; the alarms on waiting, more than
// their threshold) and treats missing data as OK.
func newAlarms(stack awscdk.Stack, p *LatchStackProps, q *queues, fs *functions, sm awsstepfunctions.StateMachine) awssns.Topic {
	topic := awssns.NewTopic(stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("Latch alarms"),
	})
	if p.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(topic)
	alarmWith := func(id, desc string, m awscloudwatch.Metric, threshold float64, missing awscloudwatch.TreatMissingData) {
		a := m.CreateAlarm(stack, jsii.String(id), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String(desc),
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   missing,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
	}
	alarmOver := func(id, desc string, m awscloudwatch.Metric, threshold float64) {
		alarmWith(id, desc, m, threshold, awscloudwatch.TreatMissingData_NOT_BREACHING)
	}
	alarm := func(id, desc string, m awscloudwatch.Metric) { alarmOver(id, desc, m, 0) }
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	maxOver := &awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Maximum")}
	sumOver := func(period awscdk.Duration) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}
	}

	alarm("EventsDLQNotEmpty", "Latch: events the approvals function failed "+strconv.Itoa(maxReceiveCount)+
		" times are in the events DLQ; they were not applied. Inspect them, fix the cause, redrive.",
		q.EventsDLQ.MetricApproximateNumberOfMessagesVisible(maxOver))
	alarm("AuditDLQNotEmpty", "Latch: audit events could not be shipped to a destination (see the audit DLQ). "+
		"They are still in the table.",
		q.AuditDLQ.MetricApproximateNumberOfMessagesVisible(maxOver))
	// One alarm on the grants DLQ, firing for every new dead letter (a depth
	// alarm, which stayed in ALARM until the queue was emptied, made room
	// for RevokeOverdue under the idle-cost ceiling).
	alarm("RevokeFailed", "Latch: a grant lifecycle execution failed for good (see the grants DLQ: the grant, the stage "+
		"and the error). A revoke is never given up: the engine keeps the grant deescalating and starts a revoke-only "+
		"execution; RevokeOverdue says while access outlives its grant. Fix the cause; there is nothing to retry by hand.",
		q.GrantsDLQ.MetricNumberOfMessagesSent(sumOver(minute)))
	// The reconciler counts every grant whose revoke is overdue, every run.
	alarm("RevokeOverdue", "Latch: a revoke was not done a minute after it fell due: access outlives its grant. "+
		"Each such grant's requests carry revoke_overdue with the last error; see the escalator's log group.",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("Latch"), MetricName: jsii.String("RevokeOverdue"),
			Period: minute, Statistic: jsii.String("Sum")}))
	alarm("GrantExecutionsFailed", "Latch: a grant lifecycle execution failed.", sm.MetricFailed(sumOver(minute)))
	// Waiting too long, not failing: the events queue's oldest message
	// (approvals is stuck, throttled or failing: requests and revokes
	// wait), the audit stream's iterator (audit events wait to be shipped),
	// throttled functions in the region (reserved concurrency reached, or
	// the account's limit), and the reconciler's failed corrections.
	alarmOver("EventsQueueOldestMessage", "Latch: a message has waited more than 5 minutes in the events queue: "+
		"approvals is not keeping up, failing, or throttled; decisions and revokes wait.",
		q.Events.MetricApproximateAgeOfOldestMessage(maxOver), oldestMessageSeconds)
	alarmOver("AuditStreamIteratorAge", "Latch: audit events have waited more than 10 minutes in the table's stream: "+
		"the audit function is failing or behind (see its log group).",
		fs.Audit.Fn.Metric(jsii.String("IteratorAge"), maxOver), iteratorAgeMillis)
	alarm("LambdaThrottles", "Latch: Lambda throttled functions in this account and region (a reserved concurrency or the "+
		"account's limit was reached); Latch's functions may be among them.",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("AWS/Lambda"), MetricName: jsii.String("Throttles"),
			Period: fiveMinutes, Statistic: jsii.String("Sum")}))
	// The reconciler reports on every run, so no report for five minutes
	// (missing data) means it is not running: that fires too.
	alarmWith("ReconcileFailures", "Latch: a reconciler correction failed, or the reconciler has not run for 5 minutes "+
		"(see the reconciler's log group); overdue revokes wait for it.",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("Latch"), MetricName: jsii.String("ReconcileFailures"),
			DimensionsMap: &map[string]*string{"Function": jsii.String("reconciler")}, Period: fiveMinutes, Statistic: jsii.String("Sum")}),
		0, awscloudwatch.TreatMissingData_BREACHING)
	// Errors of the functions whose failures no other alarm sees. The
	// escalators' and granttasks' errors are retried by the state machine,
	// whose final failures raise GrantExecutionsFailed and RevokeFailed,
	// and whose revokes not done raise RevokeOverdue; the audit function's show in AuditStreamIteratorAge
	// and AuditDLQNotEmpty; the reconciler's in ReconcileFailures. Each alarm
	// costs $0.10 a month (benchmarks.md).
	for _, f := range []*function{fs.Slack, fs.API, fs.Approvals} {
		alarm(camel(f.Name)+"Errors", "Latch: the "+f.Name+" function failed (see its log group).",
			f.Fn.MetricErrors(sumOver(fiveMinutes)))
	}
	return topic
}
