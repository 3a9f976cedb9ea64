package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/sfngrants"
	"github.com/latchhq/latch/pkg/sqsqueue"
)

// Every test here runs from the module's root, as `go run ./infra` does:
// cdk.json and flows/ are read from there.
func TestMain(m *testing.M) {
	if os.Getenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION") == "" {
		os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20") // TOOLING.md: node 20 is what the machines have
	}
	if err := os.Chdir(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		fmt.Fprintln(os.Stderr, "not at the module root:", err)
		os.Exit(2)
	}
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

const (
	testAccount = "123456789012"
	testRegion  = "eu-west-1"
	testRole    = "arn:aws:iam::210987654321:role/latch-target"
	testStream  = "latch-audit"
	testEmail   = "alarms@example.com"
)

// lambdaDir makes a folder of dummy prebuilt functions, those of every
// strategy of the build (the strategies named are deployed anyway); each
// bootstrap holds its function's name, so a test can tell which code a
// function got.
func lambdaDir(t *testing.T, _ ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range functionNames(strategyNames()) {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte(name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newTestApp(t *testing.T) (awscdk.App, string) {
	t.Helper()
	ctx, err := cdkJSONContext("cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	return awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out), Context: &ctx}), out
}

func testProps(lambdas string) *LatchStackProps {
	return &LatchStackProps{
		StackProps:           awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}},
		LambdaDir:            lambdas,
		FlowsDir:             "flows",
		Domains:              []string{"example.com", "example.org"},
		AlarmEmail:           testEmail,
		Strategies:           []string{"webhook"},
		CrossAccountRoleArns: map[string][]string{"webhook": {testRole}},
		AuditFirehoseStream:  testStream,
		AuditSettings:        map[string]string{"LATCH_AUDIT_DATADOG_SITE": "EU1"},
		SlackSettings:        map[string]string{"LATCH_SLACK_CHANNEL": "#access", "SLACK_TEAM_IDS": "T1,T2"},
	}
}

// synthesized is one synthesized app, shared by the subtests: Full has every
// prop set, Minimal only the required ones.
type synthesized struct {
	outdir  string
	full    *LatchStack
	Full    tmpl
	Minimal tmpl
	fullA   assertions.Template
}

// tmpl is a CloudFormation template as JSON values.
type tmpl struct {
	Resources map[string]resource
	Outputs   map[string]map[string]any
}

type resource struct {
	Type                string
	Properties          map[string]any
	DeletionPolicy      string
	UpdateReplacePolicy string
}

func toTmpl(t *testing.T, a assertions.Template) tmpl {
	t.Helper()
	b, err := json.Marshal(a.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var out tmpl
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func synth(t *testing.T) *synthesized {
	t.Helper()
	app, out := newTestApp(t)
	lambdas := lambdaDir(t, "webhook")
	full, err := NewLatchStack(app, "Full", testProps(lambdas))
	if err != nil {
		t.Fatal(err)
	}
	minimal, err := NewLatchStack(app, "Minimal", &LatchStackProps{LambdaDir: lambdas, FlowsDir: "flows", Strategies: []string{"webhook"}})
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	fa := assertions.Template_FromStack(full.Stack, nil)
	return &synthesized{
		outdir: out, full: full, fullA: fa,
		Full:    toTmpl(t, fa),
		Minimal: toTmpl(t, assertions.Template_FromStack(minimal.Stack, nil)),
	}
}

// check runs an assertions call, which panics when it fails.
func check(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%v", r)
		}
	}()
	f()
}

// ofType returns the resources of one type by logical id.
func (tp tmpl) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range tp.Resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// one returns the resource whose logical id is name and a hash.
func (tp tmpl) one(t *testing.T, name string) resource {
	t.Helper()
	for id, r := range tp.Resources {
		if short(id) == name {
			return r
		}
	}
	t.Fatalf("no resource %s", name)
	return resource{}
}

var hashSuffix = regexp.MustCompile(`[0-9A-F]{8}$`)

// short is a logical id without the hash CDK appends: "TableCD117FA1" → "Table".
func short(id string) string { return hashSuffix.ReplaceAllString(id, "") }

// expr renders a CloudFormation value briefly: {"Ref": "TableCD117FA1"} is
// "Table", {"Fn::GetAtt": ["TableCD117FA1", "Arn"]} is "Table.Arn", a
// Fn::Join is its parts joined, a pseudo parameter is ${AWS::Region}.
func expr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			if strings.HasPrefix(ref, "AWS::") {
				return "${" + ref + "}"
			}
			return short(ref)
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok {
			return short(ga[0].(string)) + "." + ga[1].(string)
		}
		if j, ok := v["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, expr(p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// permissions are a role's allowed actions, each with its resources sorted.
type permissions map[string][]string

// rolePermissions collects, per role (short id), the Allow statements of
// every policy attached to it and of its inline policies.
func (tp tmpl) rolePermissions(t *testing.T) map[string]permissions {
	t.Helper()
	out := map[string]permissions{}
	add := func(role string, doc any) {
		if out[role] == nil {
			out[role] = permissions{}
		}
		for _, st := range list(doc.(map[string]any)["Statement"]) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				t.Errorf("role %s: unexpected %v statement", role, st["Effect"])
				continue
			}
			for _, a := range list(st["Action"]) {
				for _, r := range list(st["Resource"]) {
					out[role][a.(string)] = append(out[role][a.(string)], expr(r))
				}
			}
		}
	}
	for id, r := range tp.ofType("AWS::IAM::Role") {
		out[short(id)] = permissions{}
		for _, p := range list(r.Properties["Policies"]) {
			if p != nil {
				add(short(id), p.(map[string]any)["PolicyDocument"])
			}
		}
	}
	for _, r := range tp.ofType("AWS::IAM::Policy") {
		for _, role := range list(r.Properties["Roles"]) {
			add(expr(role), r.Properties["PolicyDocument"])
		}
	}
	for _, ps := range out {
		for a := range ps {
			slices.Sort(ps[a])
			ps[a] = slices.Compact(ps[a])
		}
	}
	return out
}

func grant(p permissions, resources []string, actions ...string) {
	for _, a := range actions {
		p[a] = append(p[a], resources...)
		slices.Sort(p[a])
	}
}

var (
	tableRW        = []string{"Table.Arn", "Table.Arn/index/*"}
	logWrite       = []string{"logs:CreateLogStream", "logs:PutLogEvents"}
	sqsConsume     = []string{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}
	logDelivery    = []string{"logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:UpdateLogDelivery"}
	functionsByRef = func() map[string]string { // short logical id → name
		m := map[string]string{"Slack": fnSlack, "Api": fnAPI, "Approvals": fnApprovals, "Granttasks": fnGrantTasks,
			"Audit": fnAudit, "Reconciler": fnReconciler}
		for _, s := range strategyNames() {
			m[camel(escalatorName(s))] = escalatorName(s)
		}
		return m
	}()
)

// escalatorARNs is LATCH_ESCALATOR_ARNS as expr renders it: every strategy
// of the build.
func escalatorARNs() string {
	m := map[string]string{}
	for _, s := range strategyNames() {
		m[s] = camel(escalatorName(s)) + ".Arn"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// wantPermissions is, per role, every action it may take and on what: the
// least privilege of each function, written out.
func wantPermissions(full bool) map[string]permissions {
	fn := func(logs string) permissions {
		p := permissions{}
		grant(p, []string{logs + ".Arn"}, logWrite...)
		return p
	}
	slack, api, approvals, tasks, audit, rec := fn("SlackLogs"), fn("ApiLogs"), fn("ApprovalsLogs"), fn("GranttasksLogs"),
		fn("AuditLogs"), fn("ReconcilerLogs")
	// Every strategy of the build has its escalator; with the repository's
	// flows (webhook only) none holds a strategy's grant-side AWS actions,
	// but the AWS strategies' escalators (and the reconciler, for the
	// strategies that can check) hold what a revoke needs: grants made
	// under a removed flow are still revoked (awsRevokeSide).
	escs := map[string]permissions{}
	for _, s := range strategyNames() {
		escs[s] = fn(camel(escalatorName(s)) + "Logs")
		grant(escs[s], tableRW, tableActions...)
		grant(escs[s], []string{"IntegrationSecrets"}, "secretsmanager:GetSecretValue")
	}
	for _, p := range []permissions{approvals, tasks, rec} {
		grant(p, tableRW, tableActions...)
	}
	// The edges read everything, and write only the directory's partitions
	// (the condition is checked in "edges write only the directory").
	for _, p := range []permissions{slack, api} {
		grant(p, tableRW, tableReadActions...)
		grant(p, []string{"Table.Arn"}, tableWriteActions...)
	}
	// The grant tasks and the escalators send their reports themselves.
	reporters := []permissions{slack, api, rec, tasks}
	for _, e := range escs {
		reporters = append(reporters, e)
	}
	for _, p := range reporters {
		grant(p, []string{"Events.Arn"}, "sqs:SendMessage")
	}
	grant(slack, []string{"AppSecrets"}, "secretsmanager:GetSecretValue")
	// The work after an answer: the function invokes itself, and sends
	// what failed to SlackWorkDLQ (the on-failure destination).
	grant(slack, []string{"Slack.Arn"}, "lambda:InvokeFunction")
	grant(slack, []string{"SlackWorkDLQ.Arn"}, "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage")
	grant(api, []string{"AppSecrets"}, "secretsmanager:GetSecretValue")
	grant(approvals, []string{"Events.Arn"}, sqsConsume...)
	grant(approvals, []string{"EventsDLQ.Arn"}, "sqs:SendMessage") // poison messages
	partition, region, account := "${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}"
	if full {
		partition, region, account = "aws", testRegion, testAccount
	}
	for _, p := range []permissions{approvals, rec} {
		grant(p, []string{"AppSecrets", "IntegrationSecrets"}, "secretsmanager:GetSecretValue")
		grant(p, []string{"Grants"}, "states:StartExecution", "states:SendTaskSuccess")
		grant(p, []string{"arn:" + partition + ":states:" + region + ":" + account + ":execution:Grants.Name:*"},
			"states:DescribeExecution")
	}
	awsRevokeSide(escs, rec, partition, account)
	grant(tasks, []string{"Grants"}, "states:SendTaskSuccess")
	grant(audit, []string{"Table.StreamArn"}, "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
	grant(audit, []string{"*"}, "dynamodb:ListStreams")
	grant(audit, []string{"AuditDLQ.Arn"}, "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage")
	grant(audit, []string{"IntegrationSecrets"}, "secretsmanager:GetSecretValue")
	if full {
		grant(escs["webhook"], []string{testRole}, "sts:AssumeRole")
		grant(audit, []string{"arn:aws:firehose:" + testRegion + ":" + testAccount + ":deliverystream/" + testStream},
			"firehose:PutRecordBatch")
	}
	sm := permissions{}
	grant(sm, []string{"Granttasks.Arn"}, "lambda:InvokeFunction")
	grant(sm, []string{"Events.Arn", "GrantsDLQ.Arn"}, "sqs:SendMessage") // Events: executions started under an earlier definition
	grant(sm, []string{"*"}, logDelivery...)
	out := map[string]permissions{
		"SlackRole": slack, "ApiRole": api, "ApprovalsRole": approvals, "GranttasksRole": tasks,
		"AuditRole": audit, "ReconcilerRole": rec, "GrantsRole": sm,
	}
	for s, p := range escs {
		grant(sm, []string{camel(escalatorName(s)) + ".Arn"}, "lambda:InvokeFunction")
		out[camel(escalatorName(s))+"Role"] = p
	}
	return out
}

// awsRevokeSide adds what the AWS strategies' escalators hold whatever the
// flows: a revoke's and a check's actions (aws_iam, aws_sso; the reconciler,
// which checks and repairs them, too) and, for aws_lambda, the invocation
// of the account's functions tagged latch:access-target=true (the condition
// is checked in TestAWSLambdaEscalatorRole).
func awsRevokeSide(escs map[string]permissions, rec permissions, partition, account string) {
	for _, p := range []permissions{escs["aws_iam"], rec} {
		grant(p, []string{"arn:" + partition + ":iam::" + account + ":group/*"}, "iam:GetGroup", "iam:RemoveUserFromGroup")
		grant(p, []string{"arn:" + partition + ":iam::" + account + ":user/*"}, "iam:ListGroupsForUser")
	}
	for _, p := range []permissions{escs["aws_sso"], rec} {
		grant(p, []string{"*"}, "identitystore:DeleteGroupMembership", "identitystore:GetGroupMembershipId",
			"identitystore:GetUserId", "sso:DeleteAccountAssignment", "sso:DescribeAccountAssignmentDeletionStatus",
			"sso:ListAccountAssignments")
		grant(p, []string{"arn:" + partition + ":iam::*:role/aws-reserved/sso.amazonaws.com/*",
			"arn:" + partition + ":iam::*:saml-provider/AWSSSO_*_DO_NOT_DELETE"}, awsSSOIAMActions...)
	}
	grant(escs["aws_lambda"], []string{"arn:" + partition + ":lambda:*:" + account + ":function:*"}, "lambda:InvokeFunction")
}

// starResources are the only statements allowed on resource *, with why.
var starResources = map[string]string{
	"identitystore:DeleteGroupMembership": "IAM Identity Center's revoke-side actions: no resource scoping Latch can know at synth (aws_sso)",
	"identitystore:GetGroupMembershipId":  "", "identitystore:GetUserId": "", "sso:DeleteAccountAssignment": "",
	"sso:DescribeAccountAssignmentDeletionStatus": "", "sso:ListAccountAssignments": "",
	"dynamodb:ListStreams":   "no resource-level permissions; the DynamoDB stream event source needs it",
	"logs:CreateLogDelivery": "vended log delivery (state machine logging) has no resource-level permissions",
	"logs:DeleteLogDelivery": "", "logs:DescribeLogGroups": "", "logs:DescribeResourcePolicies": "", "logs:GetLogDelivery": "",
	"logs:ListLogDeliveries": "", "logs:PutResourcePolicy": "", "logs:UpdateLogDelivery": "",
}

func TestStack(t *testing.T) {
	s := synth(t)
	full, minimal := s.Full, s.Minimal

	t.Run("functions", func(t *testing.T) {
		fns := full.ofType("AWS::Lambda::Function")
		var names []string
		roles := map[string]string{}
		for id, f := range fns {
			name, ok := functionsByRef[short(id)]
			if !ok {
				t.Errorf("unexpected function %s", id)
				continue
			}
			names = append(names, name)
			p := f.Properties
			if got := list(p["Architectures"]); len(got) != 1 || got[0] != "arm64" {
				t.Errorf("%s: architectures %v, want [arm64]", name, got)
			}
			if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
				t.Errorf("%s: runtime %v handler %v, want provided.al2023 and bootstrap", name, p["Runtime"], p["Handler"])
			}
			role := expr(p["Role"])
			if other, dup := roles[role]; dup {
				t.Errorf("%s and %s share role %s", name, other, role)
			}
			roles[role] = name
			if want := camel(name) + "Role.Arn"; role != want {
				t.Errorf("%s: role %s, want %s", name, role, want)
			}
			lg := expr(p["LoggingConfig"].(map[string]any)["LogGroup"])
			if want := camel(name) + "Logs"; lg != want {
				t.Errorf("%s: log group %s, want %s", name, lg, want)
			}
			if days := full.one(t, lg).Properties["RetentionInDays"]; days != float64(90) {
				t.Errorf("%s: log retention %v days, want 90", name, days)
			}
			// The code is the function's own prebuilt folder.
			key := p["Code"].(map[string]any)["S3Key"].(string)
			b, err := os.ReadFile(filepath.Join(s.outdir, "asset."+strings.TrimSuffix(key, ".zip"), "bootstrap"))
			if err != nil || string(b) != name {
				t.Errorf("%s: code asset %s holds bootstrap %q (%v), want the dummy of %s", name, key, b, err, name)
			}
		}
		slices.Sort(names)
		want := functionNames(strategyNames())
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("functions %v, want %v", names, want)
		}
	})

	t.Run("environment", func(t *testing.T) {
		env := func(name string) map[string]string {
			t.Helper()
			vars := full.one(t, camel(name)).Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
			out := map[string]string{}
			for k, v := range vars {
				out[k] = expr(v)
			}
			return out
		}
		common := func(m map[string]string) map[string]string {
			m[envLogLevel] = "info"
			return m
		}
		withFlows := func(m map[string]string) map[string]string {
			m[envFlowsDir] = flowsPath
			return common(m)
		}
		domains := "example.com,example.org"
		want := map[string]map[string]string{
			fnSlack: withFlows(map[string]string{envTable: "Table", envDomains: domains, envEventsQueueURL: "Events",
				envAppSecretsArn: "AppSecrets", envSlackDefer: "invoke", "LATCH_SLACK_CHANNEL": "#access", "SLACK_TEAM_IDS": "T1,T2"}),
			fnAPI: withFlows(map[string]string{envTable: "Table", envDomains: domains, envEventsQueueURL: "Events",
				envAppSecretsArn: "AppSecrets", "LATCH_SLACK_CHANNEL": "#access", "SLACK_TEAM_IDS": "T1,T2"}),
			fnApprovals: withFlows(map[string]string{envTable: "Table", envDomains: domains, envStateMachineArn: "Grants", envEventsDLQURL: "EventsDLQ",
				envEscalatorArns: escalatorARNs(),
				envAppSecretsArn: "AppSecrets", envHooksSecretsArn: "IntegrationSecrets", "LATCH_SLACK_CHANNEL": "#access", "SLACK_TEAM_IDS": "T1,T2"}),
			fnGrantTasks: withFlows(map[string]string{envTable: "Table", envEventsQueueURL: "Events"}),
			"escalator-webhook": withFlows(map[string]string{envTable: "Table", envStrategy: "webhook", envEventsQueueURL: "Events",
				envStrategySecrets: "IntegrationSecrets", envHooksSecretsArn: "IntegrationSecrets"}),
			fnAudit: common(map[string]string{envAuditStdout: "true", envAuditFirehose: testStream,
				"LATCH_AUDIT_DATADOG_SITE": "EU1", envAuditSecretsArn: "IntegrationSecrets"}),
			fnReconciler: withFlows(map[string]string{envTable: "Table", envDomains: domains, envEventsQueueURL: "Events",
				envStateMachineArn: "Grants", envEscalatorArns: escalatorARNs(),
				envAppSecretsArn: "AppSecrets", envHooksSecretsArn: "IntegrationSecrets", "LATCH_SLACK_CHANNEL": "#access", "SLACK_TEAM_IDS": "T1,T2"}),
		}
		for name, w := range want {
			if d := cmp.Diff(w, env(name)); d != "" {
				t.Errorf("%s: environment (-want +got):\n%s", name, d)
			}
		}
	})

	t.Run("flows layer", func(t *testing.T) {
		layers := full.ofType("AWS::Lambda::LayerVersion")
		if len(layers) != 1 {
			t.Fatalf("%d layers, want 1", len(layers))
		}
		var layerID string
		var layer resource
		for id, l := range layers {
			layerID, layer = short(id), l
		}
		if a := layer.Properties["CompatibleArchitectures"]; !slices.Equal(list(a), []any{"arm64"}) {
			t.Errorf("layer architectures %v", a)
		}
		for id, f := range full.ofType("AWS::Lambda::Function") {
			got := list(f.Properties["Layers"])
			if short(id) == "Audit" {
				if f.Properties["Layers"] != nil {
					t.Errorf("audit has layers %v; it reads no flow", got)
				}
				continue
			}
			if len(got) != 1 || expr(got[0]) != layerID {
				t.Errorf("%s: layers %v, want the flows layer", id, got)
			}
		}
		// The layer holds exactly the repository's flow files, under the
		// path the functions are told.
		key := layer.Properties["Content"].(map[string]any)["S3Key"].(string)
		asset := filepath.Join(s.outdir, "asset."+strings.TrimSuffix(key, ".zip"))
		var shipped []string
		err := filepath.WalkDir(asset, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(asset, path)
				shipped = append(shipped, "/opt/"+filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		srcs, _ := filepath.Glob("flows/*.yaml")
		var want []string
		for _, f := range srcs {
			want = append(want, flowsPath+"/"+filepath.Base(f))
			b1, _ := os.ReadFile(f)
			b2, err := os.ReadFile(filepath.Join(asset, strings.TrimPrefix(flowsPath, "/opt/"), filepath.Base(f)))
			if err != nil || string(b1) != string(b2) {
				t.Errorf("%s shipped differently (%v)", f, err)
			}
		}
		if len(want) == 0 || !slices.Equal(shipped, want) {
			t.Errorf("layer holds %v, want %v", shipped, want)
		}
	})

	t.Run("table", func(t *testing.T) {
		sc := dynamostore.TableSchema
		var gsis []any
		for _, ix := range sc.Indexes {
			gsis = append(gsis, map[string]any{
				"IndexName": ix.Name,
				"KeySchema": []any{
					map[string]any{"AttributeName": ix.PartitionKey, "KeyType": "HASH"},
					map[string]any{"AttributeName": ix.SortKey, "KeyType": "RANGE"},
				},
				"Projection": map[string]any{"ProjectionType": "ALL"},
			})
		}
		check(t, func() {
			s.fullA.HasResource(jsii.String("AWS::DynamoDB::Table"), &map[string]any{
				"DeletionPolicy":      "Retain",
				"UpdateReplacePolicy": "Retain",
				"Properties": map[string]any{
					"BillingMode":                      "PAY_PER_REQUEST",
					"DeletionProtectionEnabled":        true,
					"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
					"StreamSpecification":              map[string]any{"StreamViewType": "NEW_IMAGE"},
					"TimeToLiveSpecification":          map[string]any{"AttributeName": dynamostore.AttrTTL, "Enabled": true},
					"KeySchema": []any{
						map[string]any{"AttributeName": sc.PartitionKey, "KeyType": "HASH"},
						map[string]any{"AttributeName": sc.SortKey, "KeyType": "RANGE"},
					},
					"GlobalSecondaryIndexes": assertions.Match_ArrayEquals(&gsis),
				},
			})
		})
		if n := len(full.ofType("AWS::DynamoDB::Table")); n != 1 {
			t.Errorf("%d tables, want 1", n)
		}
	})

	t.Run("queues", func(t *testing.T) {
		events := full.one(t, "Events").Properties
		if events["FifoQueue"] != true || events["ContentBasedDeduplication"] != false {
			t.Errorf("events queue: FifoQueue %v ContentBasedDeduplication %v, want FIFO without content-based dedup",
				events["FifoQueue"], events["ContentBasedDeduplication"])
		}
		redrive := events["RedrivePolicy"].(map[string]any)
		if expr(redrive["deadLetterTargetArn"]) != "EventsDLQ.Arn" || redrive["maxReceiveCount"] != float64(sqsqueue.QueueMaxReceiveCount) ||
			sqsqueue.QueueMaxReceiveCount < 3*sqsqueue.DefaultPoisonAfter {
			t.Errorf("events redrive %v, want EventsDLQ after %d receives, well above the consumer's own %d",
				redrive, sqsqueue.QueueMaxReceiveCount, sqsqueue.DefaultPoisonAfter)
		}
		if full.one(t, "EventsDLQ").Properties["FifoQueue"] != true {
			t.Error("the events DLQ is not FIFO")
		}
		approvalsTimeout := full.one(t, "Approvals").Properties["Timeout"].(float64)
		if vis := events["VisibilityTimeout"].(float64); vis < 6*approvalsTimeout {
			t.Errorf("events visibility timeout %vs < 6 × approvals timeout %vs", vis, approvalsTimeout)
		}
		for _, name := range []string{"GrantsDLQ", "AuditDLQ", "SlackWorkDLQ"} {
			if fifo := full.one(t, name).Properties["FifoQueue"]; fifo != nil {
				t.Errorf("%s: FifoQueue %v, want a standard queue", name, fifo)
			}
		}
		for id, q := range full.ofType("AWS::SQS::Queue") {
			if q.Properties["SqsManagedSseEnabled"] != true {
				t.Errorf("%s is not encrypted", id)
			}
		}
		check(t, func() {
			s.fullA.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), &map[string]any{
				"EventSourceArn":        map[string]any{"Fn::GetAtt": []any{logicalID(t, full, "Events"), "Arn"}},
				"FunctionName":          map[string]any{"Ref": logicalID(t, full, "Approvals")},
				"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
			})
		})
	})

	t.Run("audit stream", func(t *testing.T) {
		var found bool
		for _, m := range full.ofType("AWS::Lambda::EventSourceMapping") {
			p := m.Properties
			if expr(p["FunctionName"]) != "Audit" {
				continue
			}
			found = true
			if expr(p["EventSourceArn"]) != "Table.StreamArn" {
				t.Errorf("audit reads %s, want the table's stream", expr(p["EventSourceArn"]))
			}
			// What pkg/audit/streamship requires of its event source mapping.
			if p["StartingPosition"] != "TRIM_HORIZON" || p["BisectBatchOnFunctionError"] != true ||
				p["ParallelizationFactor"] != float64(1) || !slices.Equal(list(p["FunctionResponseTypes"]), []any{"ReportBatchItemFailures"}) {
				t.Errorf("audit event source: %v", p)
			}
			retries, _ := p["MaximumRetryAttempts"].(float64)
			age, _ := p["MaximumRecordAgeInSeconds"].(float64)
			if retries <= 0 || age <= 0 || age > 12*3600 {
				t.Errorf("audit event source retries %v times for %vs: want both bounded, the age well under the stream's 24 h", retries, age)
			}
			dest := p["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]
			if expr(dest) != "AuditDLQ.Arn" {
				t.Errorf("audit on-failure destination %s, want AuditDLQ", expr(dest))
			}
			var pattern map[string]any
			filters := p["FilterCriteria"].(map[string]any)["Filters"].([]any)
			if err := json.Unmarshal([]byte(filters[0].(map[string]any)["Pattern"].(string)), &pattern); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"eventName": []any{"INSERT"}, "dynamodb": map[string]any{"NewImage": map[string]any{
				dynamostore.AttrType: map[string]any{"S": []any{dynamostore.TypeAudit}}}}}
			if d := cmp.Diff(want, pattern); len(filters) != 1 || d != "" {
				t.Errorf("audit filter (-want +got):\n%s", d)
			}
		}
		if !found {
			t.Error("no event source mapping for the audit function")
		}
	})

	t.Run("iam least privilege", func(t *testing.T) {
		for _, c := range []struct {
			name string
			tp   tmpl
			full bool
		}{{"full", full, true}, {"minimal", minimal, false}} {
			got := c.tp.rolePermissions(t)
			if d := cmp.Diff(wantPermissions(c.full), got); d != "" {
				t.Errorf("%s: role permissions (-want +got):\n%s", c.name, d)
			}
		}
	})

	t.Run("no star action, star resource only where required", func(t *testing.T) {
		for _, tp := range []tmpl{full, minimal} {
			for role, ps := range tp.rolePermissions(t) {
				for action, resources := range ps {
					if strings.Contains(action, "*") {
						t.Errorf("role %s has action %s", role, action)
					}
					if slices.Contains(resources, "*") {
						if _, ok := starResources[action]; !ok {
							t.Errorf("role %s has %s on resource *", role, action)
						}
					}
				}
			}
			for id, r := range tp.ofType("AWS::IAM::Role") {
				if m := r.Properties["ManagedPolicyArns"]; m != nil {
					t.Errorf("role %s has managed policies %v", id, m)
				}
			}
		}
	})

	t.Run("state machine", func(t *testing.T) {
		sms := full.ofType("AWS::StepFunctions::StateMachine")
		if len(sms) != 1 {
			t.Fatalf("%d state machines, want 1", len(sms))
		}
		sm := full.one(t, "Grants").Properties
		if sm["StateMachineType"] != "STANDARD" || expr(sm["RoleArn"]) != "GrantsRole.Arn" {
			t.Errorf("state machine type %v role %v", sm["StateMachineType"], expr(sm["RoleArn"]))
		}
		logging := sm["LoggingConfiguration"].(map[string]any)
		dest := logging["Destinations"].([]any)[0].(map[string]any)["CloudWatchLogsLogGroup"].(map[string]any)["LogGroupArn"]
		if logging["Level"] != "ERROR" || logging["IncludeExecutionData"] != false || expr(dest) != "GrantsLogs.Arn" {
			t.Errorf("state machine logging %v, want ERROR without execution data", logging)
		}
		if name := full.one(t, "GrantsLogs").Properties["LogGroupName"]; name != "/aws/vendedlogs/states/Full-grants" {
			t.Errorf("state machine log group %v, want it under /aws/vendedlogs/states/", name)
		}
		if days := full.one(t, "GrantsLogs").Properties["RetentionInDays"]; days != float64(90) {
			t.Errorf("state machine log retention %v", days)
		}
		// The definition is pkg/sfngrants', with this stack's function and
		// queues in it (expr renders the tokens CloudFormation resolves).
		want, err := sfngrants.Definition(sfngrants.Resources{
			GrantTaskFunction: "Granttasks.Arn", DeadLetterQueueURL: "GrantsDLQ",
		})
		if err != nil {
			t.Fatal(err)
		}
		got := expr(sm["DefinitionString"])
		var gotJSON, wantJSON any
		if err := json.Unmarshal([]byte(got), &gotJSON); err != nil {
			t.Fatalf("definition is not JSON: %v\n%s", err, got)
		}
		if err := json.Unmarshal([]byte(want), &wantJSON); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(wantJSON, gotJSON); d != "" {
			t.Errorf("definition (-sfngrants +template):\n%s", d)
		}
	})

	t.Run("http api", func(t *testing.T) {
		integrations := map[string]string{} // logical id → function
		for id, in := range full.ofType("AWS::ApiGatewayV2::Integration") {
			if in.Properties["IntegrationType"] != "AWS_PROXY" || in.Properties["PayloadFormatVersion"] != "2.0" {
				t.Errorf("integration %s: %v", id, in.Properties)
			}
			integrations[id] = strings.TrimSuffix(expr(in.Properties["IntegrationUri"]), ".Arn")
		}
		got := map[string]string{}
		for _, r := range full.ofType("AWS::ApiGatewayV2::Route") {
			target := r.Properties["Target"].(map[string]any)["Fn::Join"].([]any)[1].([]any)[1].(map[string]any)["Ref"].(string)
			got[r.Properties["RouteKey"].(string)] = integrations[target]
		}
		want := map[string]string{
			"POST /slack/commands": "Slack", "POST /slack/interactions": "Slack", "POST /slack/events": "Slack",
			"POST /slack/options": "Slack", "ANY /v1/{proxy+}": "Api", "GET /healthz": "Api",
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("routes (-want +got):\n%s", d)
		}
		url := expr(full.Outputs["ApiUrl"]["Value"])
		if url != "https://HttpApi.execute-api."+testRegion+".${AWS::URLSuffix}/" {
			t.Errorf("ApiUrl output %q", url)
		}
	})

	t.Run("reconciler schedule", func(t *testing.T) {
		rules := full.ofType("AWS::Events::Rule")
		if len(rules) != 1 {
			t.Fatalf("%d event rules, want the reconciler's schedule", len(rules))
		}
		for id, r := range rules {
			targets, _ := r.Properties["Targets"].([]any)
			if r.Properties["ScheduleExpression"] != "rate(1 minute)" || r.Properties["State"] != "ENABLED" || len(targets) != 1 ||
				expr(targets[0].(map[string]any)["Arn"]) != "Reconciler.Arn" {
				t.Errorf("rule %s: %v, want every minute, to the reconciler", id, r.Properties)
			}
		}
		perms := 0
		for _, p := range full.ofType("AWS::Lambda::Permission") {
			if p.Properties["Principal"] == "events.amazonaws.com" && expr(p.Properties["FunctionName"]) == "Reconciler.Arn" {
				perms++
			}
		}
		if perms != 1 {
			t.Errorf("%d permissions for EventBridge to invoke the reconciler, want 1", perms)
		}
	})

	t.Run("secrets", func(t *testing.T) {
		got := map[string]string{}
		for id, r := range full.ofType("AWS::SecretsManager::Secret") {
			got[short(id)] = r.Properties["Name"].(string)
			if v, ok := r.Properties["SecretString"]; ok && v != "{}" {
				t.Errorf("secret %s has a value in the template", id)
			}
		}
		// Two secrets, whatever the strategies: idle cost (benchmarks.md).
		want := map[string]string{"AppSecrets": "Full/app", "IntegrationSecrets": "Full/integrations"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("secrets (-want +got):\n%s", d)
		}
		gen := full.one(t, "AppSecrets").Properties["GenerateSecretString"].(map[string]any)
		var tmpl map[string]string
		if err := json.Unmarshal([]byte(gen["SecretStringTemplate"].(string)), &tmpl); err != nil || gen["GenerateStringKey"] != "LATCH_ADMIN_TOKEN" ||
			tmpl["SLACK_BOT_TOKEN"] != placeholderValue || tmpl["SLACK_SIGNING_SECRET"] != placeholderValue {
			t.Errorf("app secret generation %v (%v): want the Slack placeholders and a generated LATCH_ADMIN_TOKEN", gen, err)
		}
		for _, o := range []string{"AppSecretArn", "IntegrationSecretArn"} {
			if _, ok := full.Outputs[o]; !ok {
				t.Errorf("no %s output", o)
			}
		}
		// latch admin redrive moves the events DLQ back to the events queue.
		for o, want := range map[string]string{"EventsQueueUrl": "Events", "EventsDLQUrl": "EventsDLQ"} {
			if got := expr(full.Outputs[o]["Value"]); got != want {
				t.Errorf("output %s is %q, want %s's URL", o, got, want)
			}
		}
	})

	t.Run("cfn-lint", func(t *testing.T) {
		for _, name := range []string{"Full", "Minimal"} {
			cfnLint(t, filepath.Join(s.outdir, name+".template.json"))
		}
	})

	t.Run("edges write only the directory", func(t *testing.T) {
		writes := map[string]bool{}
		for _, a := range tableWriteActions {
			writes[a] = true
		}
		for _, role := range []string{"SlackRole", "ApiRole"} {
			found := false
			for _, r := range full.ofType("AWS::IAM::Policy") {
				if rs := list(r.Properties["Roles"]); len(rs) != 1 || expr(rs[0]) != role {
					continue
				}
				for _, st := range list(r.Properties["PolicyDocument"].(map[string]any)["Statement"]) {
					st := st.(map[string]any)
					var writing bool
					for _, a := range list(st["Action"]) {
						writing = writing || writes[a.(string)]
					}
					if !writing {
						continue
					}
					found = true
					cond, _ := st["Condition"].(map[string]any)
					like, _ := cond["ForAllValues:StringLike"].(map[string]any)
					var prefixes []string
					for _, v := range list(like["dynamodb:LeadingKeys"]) {
						prefixes = append(prefixes, v.(string))
					}
					want := []string{"AUDITID#*", "AUDITLOG#*", "DOMAIN#*", "IDENT#*", "TOKEN#*", "TOKENHASH#*", "USER#*"}
					slices.Sort(prefixes)
					if !slices.Equal(prefixes, want) {
						t.Errorf("%s writes the table under leading keys %v, want only %v", role, prefixes, want)
					}
					for _, forbidden := range []string{"REQ#", "GRANT#", "GKEY#", "EFFECT#", "DEDUP#"} {
						for _, p := range prefixes {
							if strings.HasPrefix(forbidden, strings.TrimSuffix(p, "*")) {
								t.Errorf("%s may write %s items (%s)", role, forbidden, p)
							}
						}
					}
				}
			}
			if !found {
				t.Errorf("%s: no statement writes the table", role)
			}
		}
	})

	t.Run("concurrency and retries", func(t *testing.T) {
		reserved := map[string]any{}
		for id, f := range full.ofType("AWS::Lambda::Function") {
			reserved[functionsByRef[short(id)]] = f.Properties["ReservedConcurrentExecutions"]
		}
		want := map[string]any{fnSlack: nil, fnAPI: nil, fnApprovals: nil, fnAudit: nil,
			fnReconciler: float64(1), fnGrantTasks: float64(DefaultTaskConcurrency)}
		for _, s := range strategyNames() {
			want[escalatorName(s)] = float64(DefaultTaskConcurrency)
		}
		if d := cmp.Diff(want, reserved); d != "" {
			t.Errorf("reserved concurrency (-want +got):\n%s", d)
		}
		configs := map[string]map[string]any{}
		for _, c := range full.ofType("AWS::Lambda::EventInvokeConfig") {
			configs[expr(c.Properties["FunctionName"])] = c.Properties
		}
		if len(configs) != 2 {
			t.Fatalf("event invoke configs of %v, want the reconciler's and slack's", slices.Collect(maps.Keys(configs)))
		}
		if p := configs["Reconciler"]; p["MaximumRetryAttempts"] != float64(0) || p["Qualifier"] != "$LATEST" {
			t.Errorf("reconciler's event invoke config %v, want no retry", p)
		}
		// The slack function's work after an answer: one retry, within 10
		// minutes, then SlackWorkDLQ.
		p := configs["Slack"]
		dest, _ := p["DestinationConfig"].(map[string]any)
		onFailure, _ := dest["OnFailure"].(map[string]any)
		if p["MaximumRetryAttempts"] != float64(1) || p["MaximumEventAgeInSeconds"] != float64(600) || p["Qualifier"] != "$LATEST" ||
			expr(onFailure["Destination"]) != "SlackWorkDLQ.Arn" || dest["OnSuccess"] != nil {
			t.Errorf("slack's event invoke config %v, want one retry in 10 minutes, failures to SlackWorkDLQ", p)
		}
	})

	t.Run("http api stage", func(t *testing.T) {
		stages := full.ofType("AWS::ApiGatewayV2::Stage")
		if len(stages) != 1 {
			t.Fatalf("%d stages, want the default one", len(stages))
		}
		for _, st := range stages {
			p := st.Properties
			rs := p["DefaultRouteSettings"].(map[string]any)
			if rs["ThrottlingRateLimit"] != float64(DefaultAPIRate) || rs["ThrottlingBurstLimit"] != float64(DefaultAPIBurst) {
				t.Errorf("stage throttling %v", rs)
			}
			al := p["AccessLogSettings"].(map[string]any)
			if expr(al["DestinationArn"]) != "HttpApiAccessLogs.Arn" || !json.Valid([]byte(al["Format"].(string))) {
				t.Errorf("stage access logs %v", al)
			}
		}
	})

	t.Run("alarms", func(t *testing.T) {
		type alarm struct{ Metric, Dimension string }
		got := map[alarm]bool{}
		thresholds := map[string]float64{"EventsQueueOldestMessage": oldestMessageSeconds, "AuditStreamIteratorAge": iteratorAgeMillis}
		for id, a := range full.ofType("AWS::CloudWatch::Alarm") {
			p := a.Properties
			missing := "notBreaching"
			if short(id) == "ReconcileFailures" {
				missing = "breaching" // the reconciler reports every minute: silence means it stopped
			}
			if p["Threshold"] != thresholds[short(id)] || p["ComparisonOperator"] != "GreaterThanThreshold" ||
				p["EvaluationPeriods"] != float64(1) || p["TreatMissingData"] != missing {
				t.Errorf("alarm %s does not fire on the first occurrence: %v", id, p)
			}
			if acts := list(p["AlarmActions"]); len(acts) != 1 || expr(acts[0]) != "Alarms" {
				t.Errorf("alarm %s actions %v, want the Alarms topic", id, acts)
			}
			dims, _ := p["Dimensions"].([]any)
			dim := ""
			if len(dims) > 0 {
				dim = expr(dims[0].(map[string]any)["Value"])
			}
			got[alarm{p["Namespace"].(string) + " " + p["MetricName"].(string), dim}] = true
		}
		want := map[alarm]bool{
			{"AWS/SQS ApproximateNumberOfMessagesVisible", "EventsDLQ.QueueName"}: true,
			{"AWS/SQS ApproximateNumberOfMessagesVisible", "AuditDLQ.QueueName"}:  true,
			{"AWS/SQS NumberOfMessagesSent", "GrantsDLQ.QueueName"}:               true, // failed revokes
			{"AWS/States ExecutionsFailed", "Grants"}:                             true,
			{"AWS/SQS ApproximateAgeOfOldestMessage", "Events.QueueName"}:         true,
			{"AWS/Lambda IteratorAge", "Audit"}:                                   true,
			{"AWS/Lambda Throttles", ""}:                                          true, // every function of the region
			{"Latch ReconcileFailures", "reconciler"}:                             true,
			{"Latch RevokeOverdue", ""}:                                           true, // access outlives its grant
		}
		for _, ref := range []string{"Slack", "Api", "Approvals"} {
			want[alarm{"AWS/Lambda Errors", ref}] = true
		}
		// Idle cost: two secrets and these alarms stay under $2.50 a month.
		if n := len(full.ofType("AWS::CloudWatch::Alarm")); 0.40*2+0.10*float64(n)+0.41 > 2.50 {
			t.Errorf("%d alarms: the idle cost (benchmarks.md) is over $2.50 a month", n)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("alarms (-want +got):\n%s", d)
		}
		check(t, func() {
			s.fullA.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), &map[string]any{
				"Protocol": "email", "Endpoint": testEmail,
			})
		})
		if n := len(minimal.ofType("AWS::SNS::Subscription")); n != 0 {
			t.Errorf("minimal stack: %d subscriptions without an alarm email", n)
		}
	})
}

func logicalID(t *testing.T, tp tmpl, name string) string {
	t.Helper()
	for id := range tp.Resources {
		if short(id) == name {
			return id
		}
	}
	t.Fatalf("no resource %s", name)
	return ""
}

// writeFlow writes one flow file into a new flows directory.
func writeFlow(t *testing.T, name, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const badFlow = `name: bad
label: Bad
approval: {approvers: [a@example.com]}
allow_revoke: true
fields:
  - {name: reason, type: sting}
strategy:
  type: jira
  targets: [{id: a, label: A}]
`

func TestBadFlowFailsSynth(t *testing.T) {
	dir := writeFlow(t, "bad.yaml", badFlow)
	app, _ := newTestApp(t)
	p := testProps(lambdaDir(t, "webhook"))
	p.FlowsDir = dir
	_, err := NewLatchStack(app, "Bad", p)
	file := filepath.Join(dir, "bad.yaml")
	for _, want := range []string{
		file + `:6: field "reason": type "sting" is not a field type`,
		file + `:8: strategy type "jira" is not known; the types are ` + strings.Join(strategyNames(), ", "),
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to contain %q", err, want)
		}
	}
}

// TestSynthCommand runs the app as `make synth` and `cdk deploy` do.
func TestSynthCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the app")
	}
	bin := filepath.Join(t.TempDir(), "infra")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // the packages are compiled already, with -race
	}
	if out, err := exec.Command("go", append(args, "./infra")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(flows string, more ...string) (output, outdir string, err error) {
		m := map[string]string{ctxLambdaDir: lambdaDir(t), ctxFlowsDir: flows}
		for i := 0; i+1 < len(more); i += 2 {
			m[more[i]] = more[i+1]
		}
		ctx, _ := json.Marshal(m)
		outdir = t.TempDir()
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "CDK_OUTDIR="+outdir, "CDK_CONTEXT_JSON="+string(ctx),
			"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
		b, err := cmd.CombinedOutput()
		return string(b), outdir, err
	}
	t.Run("bad flow", func(t *testing.T) {
		dir := writeFlow(t, "bad.yaml", badFlow)
		out, _, err := run(dir)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("exit %v, want status 1; output:\n%s", err, out)
		}
		if want := filepath.Join(dir, "bad.yaml") + ":8: strategy type \"jira\" is not known"; !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	})
	// The repository's flows, with the cdk.json context of an earlier
	// version, which listed the strategies to deploy: it still synthesizes,
	// with a note, and every strategy of the build is deployed.
	t.Run("repository flows", func(t *testing.T) {
		out, dir, err := run("flows", ctxStrategies, "webhook")
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if n := strings.Count(out, "latch infra: note: latch:strategies is ignored"); n != 1 {
			t.Errorf("%d notes about latch:strategies, want one:\n%s", n, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, defaultStackName+".template.json"))
		if err != nil {
			t.Fatalf("no template: %v\n%s", err, out)
		}
		for _, s := range strategyNames() {
			if !strings.Contains(string(b), `"LATCH_STRATEGY": "`+s+`"`) {
				t.Errorf("no escalator function for %s", s)
			}
		}
	})
}

func TestCDKJSONHasRecommendedFlags(t *testing.T) {
	ctx, err := cdkJSONContext("cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-cdk-go/awscdk/v2").Output()
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := filepath.Glob(filepath.Join(strings.TrimSpace(string(dir)), "jsii", "aws-cdk-lib-*.tgz"))
	if err != nil || len(tgz) != 1 {
		t.Fatalf("aws-cdk-lib tarball: %v %v", tgz, err)
	}
	f, err := os.Open(tgz[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatal("recommended-feature-flags.json not in the aws-cdk-lib tarball")
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != "package/recommended-feature-flags.json" {
			continue
		}
		var flags map[string]any
		if err := json.NewDecoder(tr).Decode(&flags); err != nil {
			t.Fatal(err)
		}
		for k, v := range flags {
			if !cmp.Equal(ctx[k], v) {
				t.Errorf("cdk.json context %s = %v, want the recommended %v", k, ctx[k], v)
			}
		}
		return
	}
}

func TestPropsErrors(t *testing.T) {
	lambdas := lambdaDir(t, "webhook")
	for _, c := range []struct {
		name   string
		change func(*LatchStackProps)
		want   string
	}{
		{"missing bootstrap", func(p *LatchStackProps) { p.LambdaDir = t.TempDir() },
			"function slack: no prebuilt " + "%TMP%/slack/bootstrap: run `make lambdas`"},
		{"bad role", func(p *LatchStackProps) { p.CrossAccountRoleArns = map[string][]string{"webhook": {"latch-target"}} },
			`cross-account role "latch-target" (strategy webhook) is not an IAM role ARN`},
		{"roles of a strategy not in the build", func(p *LatchStackProps) {
			p.CrossAccountRoleArns = map[string][]string{"jira": {testRole}}
		}, `cross-account roles for strategy "jira", which this build does not have`},
		{"bad domain", func(p *LatchStackProps) { p.Domains = []string{"@example.com"} }, `domain "@example.com"`},
		{"audit secret as a setting", func(p *LatchStackProps) {
			p.AuditSettings = map[string]string{"LATCH_AUDIT_HTTP_SECRET": "s3cret"}
		}, "audit setting LATCH_AUDIT_HTTP_SECRET is a secret"},
		{"not an audit setting", func(p *LatchStackProps) { p.AuditSettings = map[string]string{"AWS_REGION": "x"} },
			"audit setting AWS_REGION: only LATCH_AUDIT_* settings"},
		{"the bot token as a Slack setting", func(p *LatchStackProps) { p.SlackSettings = map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"} },
			"slack setting SLACK_BOT_TOKEN: only LATCH_SLACK_CHANNEL, SLACK_API_URL, SLACK_TEAM_IDS"},
		{"bad state machine log level", func(p *LatchStackProps) { p.StateMachineLogLevel = "DEBUG" },
			`state machine log level "DEBUG": want one of ALL, ERROR, FATAL, OFF`},
		{"fractional task concurrency", func(p *LatchStackProps) { p.TaskConcurrency = jsii.Number(2.5) }, "task concurrency 2.5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := testProps(lambdas)
			c.change(p)
			err := p.check()
			want := strings.ReplaceAll(c.want, "%TMP%", p.LambdaDir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want %q", err, want)
			}
		})
	}
	if err := testProps(lambdas).check(); err != nil {
		t.Errorf("valid props: %v", err)
	}
}

func TestContextValues(t *testing.T) {
	for _, c := range []struct {
		in   any
		want []string
	}{
		{"a.com, b.com", []string{"a.com", "b.com"}},
		{`["a.com","b.com"]`, []string{"a.com", "b.com"}},
		{[]any{"a.com"}, []string{"a.com"}},
		{"", nil},
	} {
		got, err := stringList(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("stringList(%#v) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := stringList([]any{"a", 1.0}); err == nil {
		t.Error("stringList accepted a number")
	}
	m, err := stringListMap(`{"webhook": ["` + testRole + `"]}`)
	if err != nil || !slices.Equal(m["webhook"], []string{testRole}) {
		t.Errorf("stringListMap = %v, %v", m, err)
	}
	m, err = stringListMap(map[string]any{"webhook": []any{testRole}})
	if err != nil || !slices.Equal(m["webhook"], []string{testRole}) {
		t.Errorf("stringListMap(object) = %v, %v", m, err)
	}
	if _, err := stringListMap("[1]"); err == nil {
		t.Error("stringListMap accepted a list")
	}
	if r, err := retention("365"); err != nil || r != "ONE_YEAR" {
		t.Errorf("retention(365) = %v, %v", r, err)
	}
	if _, err := retention("100"); err == nil {
		t.Error("retention(100) is not offered, yet accepted")
	}

	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir()), Context: &map[string]any{
		ctxDomains: "example.com", ctxStrategies: []any{"webhook"}, ctxLogRetention: float64(30),
		ctxCrossAccount: map[string]any{"webhook": []any{testRole}}, ctxAlarmEmail: testEmail,
		ctxAuditSettings: `{"LATCH_AUDIT_HTTP_URL": "https://audit.example.com"}`,
		ctxSlackSettings: map[string]any{"SLACK_API_URL": "https://slack-gov.com/api/"},
		ctxSMLogLevel:    "all", ctxSMLogData: "true", ctxTaskConc: float64(0), ctxAPIRate: "20", ctxAPIBurst: float64(40),
	}})
	p, name, err := propsFromContext(app)
	if err != nil {
		t.Fatal(err)
	}
	want := &LatchStackProps{LambdaDir: defaultLambdaDir, FlowsDir: defaultFlowsDir, Domains: []string{"example.com"},
		AlarmEmail: testEmail, CrossAccountRoleArns: map[string][]string{"webhook": {testRole}},
		LogRetention: "ONE_MONTH", AuditSettings: map[string]string{"LATCH_AUDIT_HTTP_URL": "https://audit.example.com"},
		SlackSettings:        map[string]string{"SLACK_API_URL": "https://slack-gov.com/api/"},
		StateMachineLogLevel: "ALL", StateMachineLogExecutionData: true, TaskConcurrency: jsii.Number(0), APIRate: 20, APIBurst: 40}
	if name != defaultStackName || !cmp.Equal(p, want, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "StackProps" }, cmp.Ignore()),
		cmpopts.IgnoreUnexported(LatchStackProps{})) {
		t.Errorf("propsFromContext = %q, %+v; want %+v", name, p, want)
	}
}
