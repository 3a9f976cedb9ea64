package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/latchhq/latch/pkg/escalator/awssso"
	"github.com/latchhq/latch/pkg/flows"
	latchstrategies "github.com/latchhq/latch/pkg/strategies"
)

// The aws_sso escalator's actions (docs/strategies/aws_sso.md). IAM Identity
// Center's actions have no resource-level scoping Latch can know at synth
// (the instance, permission sets and accounts are in flow files that change
// without a new role), so they are on *; the escalator only ever calls them
// for the targets of its flows.
var (
	awsSSOActions = []string{
		"identitystore:CreateGroupMembership", "identitystore:DeleteGroupMembership", "identitystore:DescribeGroup",
		"identitystore:GetGroupMembershipId", "identitystore:GetUserId",
		"sso:CreateAccountAssignment", "sso:DeleteAccountAssignment",
		"sso:DescribeAccountAssignmentCreationStatus", "sso:DescribeAccountAssignmentDeletionStatus",
		"sso:DescribePermissionSet", "sso:ListAccountAssignments",
	}
	// awsSSOEndSessionsActions write a permission set's inline policy and
	// provision it: only for deployments with a flow that sets end_sessions.
	awsSSOEndSessionsActions = []string{
		"sso:DescribePermissionSetProvisioningStatus", "sso:GetInlinePolicyForPermissionSet",
		"sso:ProvisionPermissionSet", "sso:PutInlinePolicyToPermissionSet",
	}
	// awsSSOIAMActions are what IAM Identity Center does, as the caller, to
	// the roles it manages in the target account when an assignment is
	// created or deleted (and a permission set provisioned): only on its own
	// roles and SAML provider.
	awsSSOIAMActions = []string{
		"iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
		"iam:GetRole", "iam:GetSAMLProvider", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies",
		"iam:PutRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
	}
)

func init() { escalatorPolicies[awssso.Type] = allowAwsSSO }

// allowAwsSSO gives the aws_sso escalator's role its strategy's actions.
func allowAwsSSO(f *function, p *LatchStackProps) {
	actions := awsSSOActions
	if awsSSOEndSessions(p) {
		actions = append(append([]string{}, actions...), awsSSOEndSessionsActions...)
	}
	f.allow(actions, jsii.String("*"))
	partition := *awscdk.Stack_Of(f.Fn).Partition()
	f.allow(awsSSOIAMActions,
		jsii.String("arn:"+partition+":iam::*:role/aws-reserved/sso.amazonaws.com/*"),
		jsii.String("arn:"+partition+":iam::*:saml-provider/AWSSSO_*_DO_NOT_DELETE"))
}

// awsSSOEndSessions reports whether a deployed flow of the aws_sso strategy
// sets end_sessions (the flows were validated before the functions are
// built; a flow that does not load adds nothing).
func awsSSOEndSessions(p *LatchStackProps) bool {
	loaded, err := flows.Load(p.FlowsDir, latchstrategies.FlowOptions(p.Strategies...))
	if err != nil {
		return false
	}
	for _, f := range loaded {
		if f.Strategy != nil && f.Strategy.Type == awssso.Type && f.Strategy.Config["end_sessions"] == true {
			return true
		}
	}
	return false
}
