package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/latchhq/latch/pkg/escalator/awsiam"
)

func init() { escalatorPolicies[awsiam.Type] = allowAWSIAM }

// allowDriftChecks lets the reconciler check and repair the targets of the
// strategies the flows use that can check (reconcile.Drift): their actions
// and their cross-account roles, as their escalators have them.
func allowDriftChecks(p *LatchStackProps, f *function) {
	for _, name := range p.usedStrategies {
		allow := escalatorPolicies[name]
		if allow == nil {
			continue
		}
		allow(f, p)
		if roles := p.CrossAccountRoleArns[name]; len(roles) > 0 {
			f.allow([]string{"sts:AssumeRole"}, *jsii.Strings(roles...)...)
		}
	}
}

// awsIAMGroupActions act on an IAM group; ListGroupsForUser on a user.
var awsIAMGroupActions = []string{"iam:AddUserToGroup", "iam:GetGroup", "iam:RemoveUserFromGroup"}

// allowAWSIAM lets the aws_iam escalator add users to, remove them from and
// read the IAM groups of its own account, and list a user's groups: nothing
// else. A target in another account is reached through a role there
// (role_arn, listed in latch:crossAccountRoleArns), which holds the same four
// actions (docs/strategies/aws_iam.md).
func allowAWSIAM(f *function, _ *LatchStackProps) {
	stack := awscdk.Stack_Of(f.Fn)
	arn := func(resource string) *string {
		return stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("iam"), Region: jsii.String(""),
			Resource: jsii.String(resource), ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	}
	f.allow(awsIAMGroupActions, arn("group"))
	f.allow([]string{"iam:ListGroupsForUser"}, arn("user"))
}
