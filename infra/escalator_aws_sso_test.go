package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/escalator/awssso"
)

const awsSSOFlow = `name: sso
label: SSO
approval: {approvers: [a@example.com]}
strategy:
  type: aws_sso
  instance_arn: arn:aws:sso:::instance/ssoins-1111111111111111
  identity_store_id: d-1234567890
  end_sessions: END
  targets:
    - {id: admins, label: Admins, settings: {group_id: 90676c1234-11111111-2222-3333-4444-555555555555}}
`

// TestAwsSSOEscalatorRole synthesizes deployments of the aws_sso strategy
// and checks that its escalator's role holds exactly its own actions: the
// base of every escalator (its logs, the table, its secrets), what a revoke
// and its check need (whatever the flows: the grants of a removed flow are
// still revoked) and the IAM actions Identity Center takes on its own roles,
// the grant side only while a flow uses aws_sso, and the inline-policy
// actions only when a flow sets end_sessions.
func TestAwsSSOEscalatorRole(t *testing.T) {
	app, _ := newTestApp(t)
	lambdas := lambdaDir(t, awssso.Type)
	const (
		noFlow      = "NoFlow"
		plain       = "Plain"
		endSessions = "EndSessions"
	)
	stacks := map[string]*LatchStack{}
	for _, name := range []string{noFlow, plain, endSessions} {
		dir := writeFlow(t, "hook.yaml", webhookFlow)
		if name != noFlow {
			dir = writeFlow(t, "sso.yaml", strings.Replace(awsSSOFlow, "END", map[bool]string{false: "false", true: "true"}[name == endSessions], 1))
		}
		s, err := NewLatchStack(app, name, &LatchStackProps{LambdaDir: lambdas, FlowsDir: dir, Strategies: []string{awssso.Type}})
		if err != nil {
			t.Fatal(err)
		}
		stacks[name] = s
	}
	app.Synth(nil)
	for name, s := range stacks {
		tp := toTmpl(t, assertions.Template_FromStack(s.Stack, nil))
		got := tp.rolePermissions(t)["EscalatorAwsSsoRole"]
		want := permissions{}
		grant(want, []string{"EscalatorAwsSsoLogs.Arn"}, logWrite...)
		grant(want, tableRW, tableActions...)
		grant(want, []string{"IntegrationSecrets"}, "secretsmanager:GetSecretValue")
		grant(want, []string{"Events.Arn"}, "sqs:SendMessage") // its reports
		// Written out, as docs/strategies/aws_sso.md lists them.
		grant(want, []string{"*"},
			"sso:DeleteAccountAssignment", "sso:DescribeAccountAssignmentDeletionStatus", "sso:ListAccountAssignments",
			"identitystore:GetUserId", "identitystore:GetGroupMembershipId", "identitystore:DeleteGroupMembership")
		if name != noFlow {
			grant(want, []string{"*"},
				"sso:CreateAccountAssignment", "sso:DescribeAccountAssignmentCreationStatus", "sso:DescribePermissionSet",
				"identitystore:DescribeGroup", "identitystore:CreateGroupMembership")
		}
		if name == endSessions {
			grant(want, []string{"*"}, "sso:GetInlinePolicyForPermissionSet", "sso:PutInlinePolicyToPermissionSet",
				"sso:ProvisionPermissionSet", "sso:DescribePermissionSetProvisioningStatus")
		}
		grant(want, []string{"arn:${AWS::Partition}:iam::*:role/aws-reserved/sso.amazonaws.com/*",
			"arn:${AWS::Partition}:iam::*:saml-provider/AWSSSO_*_DO_NOT_DELETE"},
			"iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
			"iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:PutRolePolicy",
			"iam:UpdateRole", "iam:UpdateRoleDescription", "iam:GetSAMLProvider")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: EscalatorAwsSsoRole (-want +got):\n%s", name, diff)
		}
		for a := range got {
			if !strings.HasPrefix(a, "sso:") && !strings.HasPrefix(a, "identitystore:") && !strings.HasPrefix(a, "iam:") &&
				!strings.HasPrefix(a, "logs:") && !strings.HasPrefix(a, "dynamodb:") && a != "secretsmanager:GetSecretValue" && a != "sqs:SendMessage" {
				t.Errorf("%s: unexpected action %s", name, a)
			}
		}
		// No other role got the strategy's actions but the reconciler's,
		// which checks and repairs drift with the same actions
		// (allowDriftChecks): with no aws_sso flow, a revoke's only.
		perms := tp.rolePermissions(t)
		for a := range perms["ReconcilerRole"] {
			if _, ok := perms["EscalatorAwsSsoRole"][a]; !ok && (strings.HasPrefix(a, "sso:") || strings.HasPrefix(a, "identitystore:")) {
				t.Errorf("%s: the reconciler holds %s, which the escalator does not", name, a)
			}
		}
		for a := range perms["EscalatorAwsSsoRole"] {
			if strings.HasPrefix(a, "sso:") || strings.HasPrefix(a, "identitystore:") {
				if diff := cmp.Diff(perms["EscalatorAwsSsoRole"][a], perms["ReconcilerRole"][a]); diff != "" {
					t.Errorf("%s: the reconciler's %s differs from the escalator's (-escalator +reconciler):\n%s", name, a, diff)
				}
			}
		}
		for role, ps := range perms {
			if role == "EscalatorAwsSsoRole" || role == "ReconcilerRole" {
				continue
			}
			for a, resources := range ps {
				// The aws_iam escalator holds its own IAM actions, on groups
				// and users, none on Identity Center's roles.
				ssoRoles := strings.HasPrefix(a, "iam:") && (role != "EscalatorAwsIamRole" || strings.Contains(strings.Join(resources, " "), "sso.amazonaws.com"))
				if strings.HasPrefix(a, "sso:") || strings.HasPrefix(a, "identitystore:") || ssoRoles {
					t.Errorf("%s: role %s holds %s", name, role, a)
				}
			}
		}
	}
}
