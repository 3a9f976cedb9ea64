package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
)

// grantResources are what the grant state machine's definition calls.
type grantResources struct {
	Escalators     map[string]string // function ARN by strategy
	GrantTasks     string            // function ARN
	EventsQueueURL string            // reports go back to the events queue
	GrantsDLQURL   string            // grants that failed for good
}

// newGrantStateMachine is the grant lifecycle: one Standard execution per
// grant. Its role may invoke exactly the escalator and granttasks functions
// and send to exactly the events queue and the grants DLQ.
func newGrantStateMachine(stack awscdk.Stack, p *LatchStackProps, fs *functions, q *queues) awsstepfunctions.StateMachine {
	res := grantResources{
		Escalators:     map[string]string{},
		GrantTasks:     *fs.GrantTasks.Fn.FunctionArn(),
		EventsQueueURL: *q.Events.QueueUrl(),
		GrantsDLQURL:   *q.GrantsDLQ.QueueUrl(),
	}
	invokable := []*string{fs.GrantTasks.Fn.FunctionArn()}
	for _, name := range p.Strategies {
		res.Escalators[name] = *fs.Escalators[name].Fn.FunctionArn()
		invokable = append(invokable, fs.Escalators[name].Fn.FunctionArn())
	}
	asl, err := grantDefinition(res)
	if err != nil {
		panic(err)
	}

	role := awsiam.NewRole(stack, jsii.String("GrantsRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
		Description: jsii.String("Latch grant lifecycle state machine"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &invokable,
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sqs:SendMessage"),
		Resources: &[]*string{q.Events.QueueArn(), q.GrantsDLQ.QueueArn()},
	}))
	logs := awslogs.NewLogGroup(stack, jsii.String("GrantsLogs"), &awslogs.LogGroupProps{
		Retention:     p.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// Logging adds the CloudWatch Logs delivery actions to the role
	// (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery,
	// DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy,
	// DescribeResourcePolicies, DescribeLogGroups) on resource *: AWS
	// requires * for them (vended log delivery has no resource-level
	// permissions).
	return awsstepfunctions.NewStateMachine(stack, jsii.String("Grants"), &awsstepfunctions.StateMachineProps{
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromString(jsii.String(asl)),
		Role:             role,
		Comment:          jsii.String("Latch grant lifecycle: one execution per grant, named by the grant id"),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logs,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(true),
		},
	})
}
