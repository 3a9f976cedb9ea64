package awsiam_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/latchhq/latch/pkg/escalator/awsiam"
	"github.com/latchhq/latch/pkg/escalator/awsiam/iamfake"
	"github.com/latchhq/latch/pkg/latch"
)

// fastRetries is the SDK's standard retryer with millisecond waits.
func fastRetries() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = awsiam.RetryAttempts
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
	})
}

func setup(t *testing.T, cfg map[string]any) (*iamfake.IAM, *awsiam.Escalator) {
	t.Helper()
	fake := iamfake.New([]string{"jane", "bob"}, []string{"prod-admins", "readers"})
	iamfake.Serve(t, fake)
	if cfg == nil {
		cfg = map[string]any{}
	}
	esc, err := awsiam.New(context.Background(), cfg, awsiam.WithRetryer(fastRetries))
	if err != nil {
		t.Fatal(err)
	}
	return fake, esc
}

func spec(user, group string) latch.GrantSpec {
	return latch.GrantSpec{GrantID: "grt_1", User: latch.SpecUser{Email: user + "@example.com", Identity: user},
		Target: latch.Target{ID: "prod", Settings: map[string]any{"group": group}}}
}

func TestGrantRevokeCheck(t *testing.T) {
	fake, esc := setup(t, nil)
	ctx := context.Background()
	g := spec("jane", "prod-admins")
	held := func() bool {
		t.Helper()
		h, err := esc.Check(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if held() {
		t.Fatal("Check before the grant = held")
	}
	for i := range 2 { // a repeat is a no-op
		if err := esc.Grant(ctx, g); err != nil {
			t.Fatalf("Grant #%d: %v", i+1, err)
		}
	}
	if !fake.IsMember("prod-admins", "jane") || !held() {
		t.Fatal("after Grant, jane is not in prod-admins")
	}
	adds := fake.CallsOf("AddUserToGroup")
	if len(adds) != 2 {
		t.Fatalf("AddUserToGroup called %d times, want 2", len(adds))
	}
	for k, want := range map[string]string{"GroupName": "prod-admins", "UserName": "jane", "Version": "2010-05-08"} {
		if got := adds[0].Params.Get(k); got != want {
			t.Errorf("AddUserToGroup %s = %q, want %q", k, got, want)
		}
	}
	for i := range 2 { // removing what is not there succeeds
		if err := esc.Revoke(ctx, g); err != nil {
			t.Fatalf("Revoke #%d: %v", i+1, err)
		}
	}
	if fake.IsMember("prod-admins", "jane") || held() {
		t.Fatal("after Revoke, jane is still in prod-admins")
	}
	rm := fake.CallsOf("RemoveUserFromGroup")
	if len(rm) != 2 || rm[0].Params.Get("GroupName") != "prod-admins" || rm[0].Params.Get("UserName") != "jane" {
		t.Fatalf("RemoveUserFromGroup calls = %+v", rm)
	}
	if fake.IsMember("readers", "jane") {
		t.Error("a group not named by the target was touched")
	}
}

func TestCheckReadsEveryPage(t *testing.T) {
	fake, esc := setup(t, nil)
	fake.PageSize = 2
	fake.AddGroups("jane", "a1", "a2", "a3", "a4", "a5")
	ctx := context.Background()
	g := spec("jane", "zz-last")
	fake.AddGroups("bob", "zz-last") // the group exists; jane is not in it
	if held, err := esc.Check(ctx, g); err != nil || held {
		t.Fatalf("Check = %v, %v; want false (jane is not in zz-last)", held, err)
	}
	fake.AddGroups("jane", "zz-last")
	before := len(fake.CallsOf("ListGroupsForUser"))
	if held, err := esc.Check(ctx, g); err != nil || !held {
		t.Fatalf("Check = %v, %v; want true (zz-last is on the last page)", held, err)
	}
	calls := fake.CallsOf("ListGroupsForUser")[before:]
	if len(calls) != 3 {
		t.Fatalf("ListGroupsForUser called %d times, want 3 pages", len(calls))
	}
	if calls[0].Params.Get("Marker") != "" || calls[1].Params.Get("Marker") != "2" || calls[2].Params.Get("Marker") != "4" {
		t.Errorf("markers = %q, %q, %q; want the previous page's", calls[0].Params.Get("Marker"), calls[1].Params.Get("Marker"), calls[2].Params.Get("Marker"))
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	fake, esc := setup(t, nil)
	ctx := context.Background()
	g := spec("jane", "prod-admins")
	fake.Throttle("AddUserToGroup", 2)
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatalf("Grant after two throttles: %v", err)
	}
	if n := len(fake.CallsOf("AddUserToGroup")); n != 3 {
		t.Errorf("AddUserToGroup called %d times, want 3", n)
	}
	// Throttled past the SDK's attempts: an error the revoke machinery retries.
	fake.Throttle("RemoveUserFromGroup", awsiam.RetryAttempts)
	err := esc.Revoke(ctx, g)
	if err == nil || latch.IsPermanent(err) {
		t.Fatalf("Revoke throttled %d times = %v, want a retryable error", awsiam.RetryAttempts, err)
	}
	if !fake.IsMember("prod-admins", "jane") {
		t.Fatal("a throttled revoke removed the membership")
	}
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatalf("Revoke once the throttling stopped: %v", err)
	}
}

func TestMissingUserIsPermanentAndNamesTheFix(t *testing.T) {
	_, esc := setup(t, nil)
	err := esc.Grant(context.Background(), spec("nobody", "prod-admins"))
	if !latch.IsPermanent(err) {
		t.Fatalf("Grant for a missing IAM user = %v, want a permanent error", err)
	}
	if latch.ErrorCodeOf(err) != awsiam.CodeNoSuchUser {
		t.Errorf("code = %q, want %q", latch.ErrorCodeOf(err), awsiam.CodeNoSuchUser)
	}
	var le *latch.Error
	if !errors.As(err, &le) || !strings.Contains(le.Message, "latch users set-identity nobody@example.com aws_iam NAME") ||
		!strings.Contains(le.Message, `"nobody"`) {
		t.Errorf("message = %q, want the user name and the set-identity command", le.Message)
	}
	// No identity at all: the same fix, before any call.
	g := spec("x", "prod-admins")
	g.User.Identity = ""
	if err := esc.Grant(context.Background(), g); !latch.IsPermanent(err) || latch.ErrorCodeOf(err) != awsiam.CodeNoSuchUser {
		t.Errorf("Grant without identity = %v", err)
	}
	// Revoking and checking a user that is gone: nothing is held.
	if err := esc.Revoke(context.Background(), spec("nobody", "prod-admins")); err != nil {
		t.Errorf("Revoke for a missing user = %v, want success", err)
	}
	if held, err := esc.Check(context.Background(), spec("nobody", "prod-admins")); err != nil || held {
		t.Errorf("Check for a missing user = %v, %v", held, err)
	}
}

func TestMissingGroupAndValidate(t *testing.T) {
	fake, esc := setup(t, nil)
	ctx := context.Background()
	err := esc.Grant(ctx, spec("jane", "no-such-group"))
	if !latch.IsPermanent(err) || latch.ErrorCodeOf(err) != awsiam.CodeNoSuchGroup {
		t.Fatalf("Grant to a missing group = %v (code %q)", err, latch.ErrorCodeOf(err))
	}
	if err := esc.Validate(ctx, latch.Target{ID: "prod", Settings: map[string]any{"group": "prod-admins"}}); err != nil {
		t.Errorf("Validate(existing group) = %v", err)
	}
	calls := fake.CallsOf("GetGroup")
	if len(calls) != 1 || calls[0].Params.Get("GroupName") != "prod-admins" {
		t.Errorf("GetGroup calls = %+v", calls)
	}
	err = esc.Validate(ctx, latch.Target{ID: "prod", Settings: map[string]any{"group": "typo-admins"}})
	if !latch.IsPermanent(err) || !strings.Contains(err.Error(), `"typo-admins"`) {
		t.Errorf("Validate(missing group) = %v, want a permanent error naming it", err)
	}
	fake.Throttle("GetGroup", awsiam.RetryAttempts)
	if err := esc.Validate(ctx, latch.Target{ID: "prod", Settings: map[string]any{"group": "prod-admins"}}); err == nil || latch.IsPermanent(err) {
		t.Errorf("Validate while throttled = %v, want a retryable error", err)
	}
}

// TestRevokeThatKeepsTheMembership: IAM answers the revoke with success but
// the membership stays once; ConfirmRevoked (what both runtimes call after
// a revoke) says so, and the next attempt ends it.
func TestRevokeThatKeepsTheMembership(t *testing.T) {
	fake, esc := setup(t, nil)
	ctx := context.Background()
	g := spec("jane", "prod-admins")
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	fake.KeepOnce("prod-admins", "jane")
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := latch.ConfirmRevoked(ctx, esc, g); !errors.Is(err, latch.ErrStillHeld) {
		t.Fatalf("ConfirmRevoked after a revoke that kept the membership = %v, want ErrStillHeld", err)
	}
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := latch.ConfirmRevoked(ctx, esc, g); err != nil {
		t.Fatalf("ConfirmRevoked after the second revoke = %v", err)
	}
}

func TestAssumesRoleARN(t *testing.T) {
	fake, esc := setup(t, map[string]any{"role_arn": "arn:aws:iam::210987654321:role/latch-iam", "external_id": "latch-prod"})
	if err := esc.Grant(context.Background(), spec("jane", "prod-admins")); err != nil {
		t.Fatal(err)
	}
	assume := fake.CallsOf("AssumeRole")
	if len(assume) != 1 {
		t.Fatalf("AssumeRole called %d times, want once", len(assume))
	}
	for k, want := range map[string]string{"RoleArn": "arn:aws:iam::210987654321:role/latch-iam", "ExternalId": "latch-prod",
		"RoleSessionName": "latch", "Version": "2011-06-15"} {
		if got := assume[0].Params.Get(k); got != want {
			t.Errorf("AssumeRole %s = %q, want %q", k, got, want)
		}
	}
	if assume[0].AccessKey != "AKIDBASE" {
		t.Errorf("AssumeRole signed with %q, want the base credentials", assume[0].AccessKey)
	}
	if add := fake.CallsOf("AddUserToGroup"); len(add) != 1 || add[0].AccessKey != "ASIAASSUMED" {
		t.Errorf("AddUserToGroup = %+v, want one call signed with the assumed role's key", add)
	}
}

func TestLookupIdentity(t *testing.T) {
	var esc awsiam.Escalator
	if id, err := esc.LookupIdentity(context.Background(), "Jane.Doe@example.com"); err != nil || id != "Jane.Doe" {
		t.Errorf("LookupIdentity = %q, %v; want the local part", id, err)
	}
	if _, err := esc.LookupIdentity(context.Background(), "not-an-email"); !errors.Is(err, latch.ErrNotFound) {
		t.Errorf("LookupIdentity(not an email) = %v, want ErrNotFound", err)
	}
}

func TestValidateConfig(t *testing.T) {
	target := func(settings map[string]any) []latch.Target {
		return []latch.Target{{ID: "prod", Settings: settings}}
	}
	tests := []struct {
		name    string
		cfg     map[string]any
		targets []latch.Target
		wantErr string
	}{
		{name: "group only", targets: target(map[string]any{"group": "prod-admins"})},
		{name: "cross-account", cfg: map[string]any{"role_arn": "arn:aws:iam::123456789012:role/latch", "region": "eu-west-1"},
			targets: target(map[string]any{"group": "prod-admins"})},
		{name: "no group", targets: target(nil), wantErr: "settings.group is required"},
		{name: "group ARN", targets: target(map[string]any{"group": "arn:aws:iam::123456789012:group/x"}), wantErr: "not an IAM group name"},
		{name: "group not text", targets: target(map[string]any{"group": 5}), wantErr: "must be text"},
		{name: "unknown setting", targets: target(map[string]any{"group": "g", "groups": "h"}), wantErr: `unknown setting "groups"`},
		{name: "unknown key", cfg: map[string]any{"url": "x"}, targets: target(map[string]any{"group": "g"}), wantErr: `unknown key "url"`},
		{name: "bad role", cfg: map[string]any{"role_arn": "latch"}, targets: target(map[string]any{"group": "g"}), wantErr: "role_arn"},
		{name: "duplicate target", targets: []latch.Target{{ID: "a", Settings: map[string]any{"group": "g"}}, {ID: "a", Settings: map[string]any{"group": "g"}}},
			wantErr: "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := awsiam.ValidateConfig(tt.cfg, tt.targets)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateConfig = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateConfig = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
