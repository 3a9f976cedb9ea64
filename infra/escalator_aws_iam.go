package main

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/latchhq/latch/pkg/escalator/awsiam"
)

func init() { escalatorPolicies[awsiam.Type] = allowAWSIAM }

// allowDriftChecks lets the reconciler check and repair the targets of the
// strategies that can check (reconcile.Drift) as their escalators do: the
// actions of a revoke and its check, and the cross-account roles, always
// (the grants of a strategy whose last flow was removed are still checked
// and revoked); the actions of a grant while a flow uses the strategy.
func allowDriftChecks(p *LatchStackProps, f *function) {
	for _, name := range p.Strategies {
		allow := escalatorPolicies[name]
		if allow == nil {
			continue
		}
		allow(f, p, slices.Contains(p.usedStrategies, name))
		if roles := p.CrossAccountRoleArns[name]; len(roles) > 0 {
			f.allow([]string{"sts:AssumeRole"}, *jsii.Strings(roles...)...)
		}
	}
}

// The aws_iam escalator's actions on an IAM group: a revoke removes the
// user and checks the group (GetGroup); only a grant adds. ListGroupsForUser,
// on a user, is a check's.
var (
	awsIAMRevokeActions = []string{"iam:GetGroup", "iam:RemoveUserFromGroup"}
	awsIAMGrantActions  = []string{"iam:AddUserToGroup"}
)

// allowAWSIAM lets the aws_iam escalator remove users from and read the IAM
// groups of its own account, and list a user's groups, always: these can
// only take access away or read, so they stay when the last aws_iam flow
// is removed and its grants can still be revoked. Adding users to groups
// it may only while a flow uses the strategy (granting). Nothing else. A
// target in another account is reached through a role there (role_arn,
// listed in latch:crossAccountRoleArns), which holds the same four actions
// (docs/strategies/aws_iam.md).
func allowAWSIAM(f *function, _ *LatchStackProps, granting bool) {
	stack := awscdk.Stack_Of(f.Fn)
	arn := func(resource string) *string {
		return stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("iam"), Region: jsii.String(""),
			Resource: jsii.String(resource), ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	}
	f.allow(awsIAMRevokeActions, arn("group"))
	f.allow([]string{"iam:ListGroupsForUser"}, arn("user"))
	if granting {
		f.allow(awsIAMGrantActions, arn("group"))
	}
}
