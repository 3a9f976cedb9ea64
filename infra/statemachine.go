package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
	"github.com/latchhq/latch/pkg/sfngrants"
)

// newGrantStateMachine is the grant lifecycle: one Standard execution per
// grant. Its role may invoke exactly the escalator and granttasks functions
// and send to exactly the events queue and the grants DLQ. This definition
// sends only to the DLQ (the tasks send their reports themselves); an
// execution started under an earlier definition, which sent the reports
// from the state machine, runs on it until it ends (up to a year), so the
// role keeps the events queue.
func newGrantStateMachine(stack awscdk.Stack, p *LatchStackProps, fs *functions, q *queues) awsstepfunctions.StateMachine {
	// The definition is pkg/sfngrants': the CDK tokens of the ARN and URLs
	// are placed in its strings and resolved by CloudFormation. The escalate
	// and revoke tasks invoke the escalator function named in each
	// execution's input (approvals puts it there, from LATCH_ESCALATOR_ARNS).
	asl, err := sfngrants.Definition(sfngrants.Resources{
		GrantTaskFunction:  *fs.GrantTasks.Fn.FunctionArn(),
		DeadLetterQueueURL: *q.GrantsDLQ.QueueUrl(),
		DeadLetterFIFO:     false,
	})
	if err != nil {
		panic(err)
	}
	invokable := []*string{fs.GrantTasks.Fn.FunctionArn()}
	for _, name := range p.Strategies {
		invokable = append(invokable, fs.Escalators[name].Fn.FunctionArn())
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
	// Under /aws/vendedlogs/: CloudWatch Logs then needs no resource
	// policy entry for the log group, whose 5,120 characters an account
	// with many state machines may have used up (AWS's documented remedy).
	logs := awslogs.NewLogGroup(stack, jsii.String("GrantsLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + *stack.StackName() + "-grants"),
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
		// Errors only, without the states' input and output (task tokens,
		// people's emails) unless the deployment asks for them.
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logs,
			Level:                awsstepfunctions.LogLevel(p.StateMachineLogLevel),
			IncludeExecutionData: jsii.Bool(p.StateMachineLogExecutionData),
		},
	})
}
