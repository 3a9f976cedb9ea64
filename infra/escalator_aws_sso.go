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
// for the targets of its grants.
var (
	// awsSSORevokeActions are those of Revoke and Check (an assignment
	// deleted, polled, listed; a group membership looked up and deleted) and
	// of finding the grantee's user id when the grant has none stored: they
	// can only take access away or read, so the escalator always has them,
	// and the grants of a removed flow can still be revoked.
	awsSSORevokeActions = []string{
		"identitystore:DeleteGroupMembership", "identitystore:GetGroupMembershipId", "identitystore:GetUserId",
		"sso:DeleteAccountAssignment", "sso:DescribeAccountAssignmentDeletionStatus", "sso:ListAccountAssignments",
	}
	// awsSSOGrantActions are those only a grant (and a flow's validation)
	// needs: only while a flow uses the strategy.
	awsSSOGrantActions = []string{
		"identitystore:CreateGroupMembership", "identitystore:DescribeGroup",
		"sso:CreateAccountAssignment", "sso:DescribeAccountAssignmentCreationStatus", "sso:DescribePermissionSet",
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

// allowAwsSSO gives the aws_sso escalator's role its strategy's actions:
// a revoke's always, a grant's while a flow uses the strategy (granting),
// end_sessions' while a flow sets it. The IAM actions Identity Center takes
// as the caller on the roles it manages are always there too: AWS does not
// say which of them deleting an assignment needs, and they reach only the
// roles and SAML provider Identity Center keeps in each account.
func allowAwsSSO(f *function, p *LatchStackProps, granting bool) {
	f.allow(awsSSORevokeActions, jsii.String("*"))
	var actions []string
	if granting {
		actions = append(actions, awsSSOGrantActions...)
	}
	if awsSSOEndSessions(p) {
		actions = append(actions, awsSSOEndSessionsActions...)
	}
	if len(actions) > 0 {
		f.allow(actions, jsii.String("*"))
	}
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
