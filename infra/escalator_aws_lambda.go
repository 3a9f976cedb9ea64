package main

import (
	"fmt"
	"slices"

	"github.com/aws/jsii-runtime-go"

	"github.com/latchhq/latch/pkg/awsconf"
	"github.com/latchhq/latch/pkg/escalator/awslambda"
	"github.com/latchhq/latch/pkg/flows"
	latchstrategies "github.com/latchhq/latch/pkg/strategies"
)

// allowAWSLambda gives the aws_lambda escalator, when deployed, exactly what
// its flows need: lambda:InvokeFunction on the function ARNs the flows name
// (as written: a version or alias is part of the ARN IAM matches), and, for
// flows that invoke through a role in another account (role_arn),
// sts:AssumeRole on those roles instead; that role then holds
// lambda:InvokeFunction (docs/strategies/aws_lambda.md).
func allowAWSLambda(fs *functions, flowsDir string, strategies []string) error {
	f, ok := fs.Escalators[awslambda.Type]
	if !ok {
		return nil
	}
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
