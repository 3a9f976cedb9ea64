package main

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/latchhq/latch/pkg/awsconf"
	"github.com/latchhq/latch/pkg/escalator/awslambda"
	"github.com/latchhq/latch/pkg/flows"
	latchstrategies "github.com/latchhq/latch/pkg/strategies"
)

// The tag that lets the aws_lambda escalator invoke a function of its own
// account whatever the flows (docs/strategies/aws_lambda.md): a grant's
// revoke calls the same function as its grant, and must still reach it once
// the function's last flow is removed.
const (
	awsLambdaTagKey   = "latch:access-target"
	awsLambdaTagValue = "true"
)

// allowAWSLambda gives the aws_lambda escalator, when deployed, what its
// flows need: lambda:InvokeFunction on the function ARNs the flows name (as
// written: a version or alias is part of the ARN IAM matches), and, for
// flows that invoke through a role in another account (role_arn),
// sts:AssumeRole on those roles instead; that role then holds
// lambda:InvokeFunction (docs/strategies/aws_lambda.md). Besides, always,
// lambda:InvokeFunction on the functions of the stack's account tagged
// latch:access-target=true (aws:ResourceTag, which Lambda supports for
// InvokeFunction), so that a function whose last flow was removed can still
// revoke its grants. A role_arn to keep in that case goes in
// latch:crossAccountRoleArns, which the escalator always may assume.
func allowAWSLambda(fs *functions, flowsDir string, strategies []string) error {
	f, ok := fs.Escalators[awslambda.Type]
	if !ok {
		return nil
	}
	f.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{awscdk.Stack_Of(f.Fn).FormatArn(&awscdk.ArnComponents{Service: jsii.String("lambda"),
			Region: jsii.String("*"), Resource: jsii.String("function"), ResourceName: jsii.String("*"),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:ResourceTag/" + awsLambdaTagKey: awsLambdaTagValue},
		},
	}))
	invoke, assume, err := awsLambdaResources(flowsDir, strategies)
	if err != nil {
		return err
	}
	if len(invoke) > 0 {
		f.allow([]string{"lambda:InvokeFunction"}, *jsii.Strings(invoke...)...)
	}
	if len(assume) > 0 {
		f.allow([]string{"sts:AssumeRole"}, *jsii.Strings(assume...)...)
	}
	return nil
}

// awsLambdaResources lists, sorted and without repeats, the function ARNs
// the aws_lambda flows invoke with the escalator's own role, and the roles
// the others assume.
func awsLambdaResources(flowsDir string, strategies []string) (invoke, assume []string, err error) {
	loaded, err := flows.Load(flowsDir, latchstrategies.FlowOptions(strategies...))
	if err != nil {
		return nil, nil, fmt.Errorf("flows in %s are not valid:\n%w", flowsDir, err)
	}
	for _, fl := range loaded {
		if fl.Strategy == nil || fl.Strategy.Type != awslambda.Type {
			continue
		}
		s, err := awsconf.Parse(fl.Strategy.Config)
		if err != nil {
			return nil, nil, fmt.Errorf("flow %s: %w", fl.File, err)
		}
		if s.RoleARN != "" {
			assume = append(assume, s.RoleARN)
			continue
		}
		arn, _ := fl.Strategy.Config[awslambda.KeyFunctionARN].(string)
		invoke = append(invoke, arn)
	}
	slices.Sort(invoke)
	slices.Sort(assume)
	return slices.Compact(invoke), slices.Compact(assume), nil
}
