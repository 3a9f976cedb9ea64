package e2e

import (
	"context"
	"errors"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/escalator/awsiam/iamfake"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

func iamFlow(group string) string {
	return `name: iam-access
allow_revoke: true
schedule_deescalation: true
fields:
  - {name: duration, type: duration, default: 1h}
approval:
  approvers: [alice@example.com]
strategy:
  type: aws_iam
  targets:
    - {id: prod, label: Production admins, settings: {group: ` + group + `}}
`
}

// fakeIAM starts a fake IAM (and STS) and returns the environment that
// points a latch process's AWS SDK at it.
func fakeIAM(t *testing.T, users ...string) (*iamfake.IAM, []string) {
	t.Helper()
	fake := iamfake.New(users, []string{"prod-admins"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	return fake, []string{"AWS_ENDPOINT_URL_IAM=" + srv.URL, "AWS_ENDPOINT_URL_STS=" + srv.URL,
		"AWS_ACCESS_KEY_ID=AKIDBASE", "AWS_SECRET_ACCESS_KEY=base-secret", "AWS_SESSION_TOKEN=", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials")}
}

// `latch flows validate` asks IAM whether each target's group exists;
// --offline does not.
func TestAWSIAMFlowsValidate(t *testing.T) {
	fake, env := fakeIAM(t, "jane")
	dir := writeFlows(t, map[string]string{"iam.yaml": iamFlow("prod-admnis")})
	cmd := exec.Command(latchBin, "flows", "validate", dir)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), `"prod-admnis"`) || !strings.Contains(string(out), "iam.yaml") {
		t.Fatalf("flows validate with a missing group: %v\n%s", err, out)
	}
	if len(fake.CallsOf("GetGroup")) != 1 {
		t.Errorf("GetGroup calls: %d, want 1", len(fake.CallsOf("GetGroup")))
	}
	cmd = exec.Command(latchBin, "flows", "validate", "--offline", dir)
	cmd.Env = append(cmd.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("flows validate --offline: %v\n%s", err, out)
	}
	if len(fake.CallsOf("GetGroup")) != 1 {
		t.Error("--offline asked IAM")
	}
}

// The aws_iam strategy through latch server: a grant adds the IAM user to
// the group; a revoke IAM answers with success while keeping the
// membership ends only when a check sees it gone, and says verified; a
// missing IAM user fails with the fix; the reconciler (latch reconcile)
// restores a membership removed by hand and removes one left behind.
func TestAWSIAMThroughServer(t *testing.T) {
	fake, env := fakeIAM(t, "jane", "bob")
	srv := startServerEnv(t, env, writeFlows(t, map[string]string{"iam.yaml": iamFlow("prod-admins")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	request := func(email string, seconds int) latch.Request {
		t.Helper()
		req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "iam-access", UserEmail: email, Fields: map[string]any{"duration": seconds}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
			t.Fatal(err)
		}
		return req
	}

	// Granted through a throttle; the revoke is kept once by IAM.
	fake.Throttle("AddUserToGroup", 1)
	req := request("jane@example.com", 3)
	waitStatus(t, c, req.ID, latch.StatusActive, 30*time.Second)
	if !fake.IsMember("prod-admins", "jane") {
		t.Fatal("active, but jane is not in prod-admins")
	}
	fake.KeepOnce("prod-admins", "jane")
	waitStatus(t, c, req.ID, latch.StatusEnded, 90*time.Second)
	if fake.IsMember("prod-admins", "jane") {
		t.Fatal("ended, but jane is still in prod-admins")
	}
	if n := len(fake.CallsOf("RemoveUserFromGroup")); n < 2 {
		t.Errorf("RemoveUserFromGroup called %d times, want the kept revoke retried", n)
	}
	evs, err := c.Events(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	var de *latch.AuditEvent
	for i := range evs {
		if evs[i].Type == latch.AuditDeescalated {
			de = &evs[i]
		}
	}
	if de == nil || de.Data["verified"] != true {
		t.Fatalf("deescalated event %+v: want verified", de)
	}
	if s, ok := de.Data["revoke_seconds"].(float64); !ok || s < 0 {
		t.Errorf("deescalated data %v: want revoke_seconds", de.Data)
	}

	// No IAM user: a permanent failure that names the fix.
	nobody := request("nobody@example.com", 60)
	failed := waitStatus(t, c, nobody.ID, latch.StatusFailed, 30*time.Second)
	if failed.Failure == nil || !strings.Contains(failed.Failure.Message, "latch users set-identity nobody@example.com aws_iam NAME") {
		t.Errorf("failure = %+v, want the set-identity fix", failed.Failure)
	}

	// Drift: jane's membership is back by hand after her grant ended; bob's
	// is removed by hand during his.
	fake.SetMember("prod-admins", "jane", true)
	bob := request("bob@example.com", 3600)
	waitStatus(t, c, bob.ID, latch.StatusActive, 30*time.Second)
	fake.SetMember("prod-admins", "bob", false)

	cmd := exec.Command(latchBin, "reconcile", "--dry-run", "--url", srv.URL)
	cmd.Env = append(cmd.Environ(), "LATCH_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "still_present") || !strings.Contains(string(out), "missing") {
		t.Fatalf("latch reconcile --dry-run: %v\n%s", err, out)
	}
	if fake.IsMember("prod-admins", "bob") || !fake.IsMember("prod-admins", "jane") {
		t.Fatal("the dry run changed IAM")
	}
	rep, err := c.Reconcile(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 2 {
		t.Errorf("reconcile findings %+v, want 2", rep.Findings)
	}
	if !fake.IsMember("prod-admins", "bob") {
		t.Error("bob's membership, removed by hand during his grant, was not restored")
	}
	if fake.IsMember("prod-admins", "jane") {
		t.Error("jane's membership, left behind after her grant, was not removed")
	}
	rep, err = c.Reconcile(ctx, false)
	if err != nil || len(rep.Findings) != 0 {
		t.Errorf("second reconcile: %+v, %v; want nothing", rep.Findings, err)
	}
}
