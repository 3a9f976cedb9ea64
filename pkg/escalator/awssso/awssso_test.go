package awssso_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/escalator/awssso"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
)

var t0 = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// env points the SDK at the fakes through its own endpoint variables, with
// fake credentials and no shared files.
func env(t *testing.T, f *fakeSSO) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SSO_ADMIN", f.serve("SWBExternalService").URL)
	t.Setenv("AWS_ENDPOINT_URL_IDENTITYSTORE", f.serve("AWSIdentityStore").URL)
}

func config(extra map[string]any) map[string]any {
	c := map[string]any{"instance_arn": instanceARN, "identity_store_id": storeID}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func setup(t *testing.T, extra map[string]any) (*fakeSSO, *awssso.Escalator) {
	t.Helper()
	f := newFakeSSO(t)
	env(t, f)
	esc, err := awssso.New(context.Background(), config(extra),
		awssso.WithPollInterval(time.Millisecond), awssso.WithClock(latch.ClockFunc(func() time.Time { return t0 })))
	if err != nil {
		t.Fatal(err)
	}
	return f, esc
}

func assignment(user string) latch.GrantSpec {
	return latch.GrantSpec{GrantID: "grt_1", StartsAt: t0, EndsAt: t0.Add(time.Hour),
		User:   latch.SpecUser{Email: "alice@example.com", Identity: user},
		Target: latch.Target{ID: "prod-admin", Settings: map[string]any{"permission_set_arn": psARN, "account_id": account}}}
}

func membership(user string) latch.GrantSpec {
	return latch.GrantSpec{GrantID: "grt_2", StartsAt: t0,
		User:   latch.SpecUser{Email: "alice@example.com", Identity: user},
		Target: latch.Target{ID: "admins", Settings: map[string]any{"group_id": groupID}}}
}

func check(t *testing.T, esc *awssso.Escalator, g latch.GrantSpec, want bool) {
	t.Helper()
	held, err := esc.Check(context.Background(), g)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if held != want {
		t.Fatalf("check = %v, want %v", held, want)
	}
}

func TestAccountAssignmentGrantCheckRevoke(t *testing.T) {
	f, esc := setup(t, nil)
	ctx := context.Background()
	g := assignment(aliceID)

	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	// The grantee's assignment is looked for on every page (two pages of
	// others first), then created.
	if diff := cmp.Diff([]string{"ListAccountAssignments", "ListAccountAssignments", "CreateAccountAssignment"}, f.ops()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	create := f.callsOf("CreateAccountAssignment")[0].Body
	want := map[string]any{"InstanceArn": instanceARN, "PermissionSetArn": psARN, "PrincipalId": aliceID,
		"PrincipalType": "USER", "TargetId": account, "TargetType": "AWS_ACCOUNT"}
	if diff := cmp.Diff(want, create); diff != "" {
		t.Errorf("CreateAccountAssignment body (-want +got):\n%s", diff)
	}
	if !f.assigned(aliceID) {
		t.Fatal("the fake holds no assignment after the grant")
	}
	check(t, esc, g, true)

	// A repeated grant finds the assignment and changes nothing.
	f.reset()
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if ops := f.ops(); slices.Contains(ops, "CreateAccountAssignment") {
		t.Errorf("a repeated grant called %v", ops)
	}

	f.reset()
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	del := f.callsOf("DeleteAccountAssignment")
	if len(del) != 1 || cmp.Diff(want, del[0].Body) != "" {
		t.Errorf("DeleteAccountAssignment calls = %v, want one with %v", del, want)
	}
	if f.assigned(aliceID) {
		t.Fatal("the fake still holds the assignment after the revoke")
	}
	if err := latch.ConfirmRevoked(ctx, esc, g); err != nil {
		t.Fatalf("check after revoke: %v", err)
	}
	// A repeated revoke succeeds and leaves nothing behind.
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	check(t, esc, g, false)
}

func TestAssignmentIsPolledUntilItSucceeds(t *testing.T) {
	f, esc := setup(t, nil)
	f.pending = 3
	ctx := context.Background()
	g := assignment(aliceID)
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	polls := f.callsOf("DescribeAccountAssignmentCreationStatus")
	if len(polls) != 4 {
		t.Fatalf("creation status polled %d times, want 4 (three IN_PROGRESS, then SUCCEEDED)", len(polls))
	}
	for _, p := range polls {
		if p.Body["AccountAssignmentCreationRequestId"] != "create-1" || p.Body["InstanceArn"] != instanceARN {
			t.Errorf("poll body = %v", p.Body)
		}
	}
	check(t, esc, g, true)

	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if n := len(f.callsOf("DescribeAccountAssignmentDeletionStatus")); n != 4 {
		t.Fatalf("deletion status polled %d times, want 4", n)
	}
	check(t, esc, g, false)
}

func TestAssignmentStillInProgressIsRetryable(t *testing.T) {
	f, esc := setup(t, nil)
	f.pending = 1 << 30
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(f.callsOf("DescribeAccountAssignmentCreationStatus")) < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := esc.Grant(ctx, assignment(aliceID))
	if err == nil || latch.IsPermanent(err) || latch.ErrorCodeOf(err) != awssso.CodeInProgress {
		t.Fatalf("err = %v, want a retryable %s", err, awssso.CodeInProgress)
	}
}

func TestFailedAssignmentNamesItsReason(t *testing.T) {
	f, esc := setup(t, nil)
	f.pending = 1
	f.failReason = "Received a 404 status error: Not supported policy arn:aws:iam::aws:policy/Missing."
	err := esc.Grant(context.Background(), assignment(aliceID))
	if err == nil || !latch.IsPermanent(err) || latch.ErrorCodeOf(err) != awssso.CodeFailed ||
		!strings.Contains(err.Error(), "Not supported policy") {
		t.Fatalf("err = %v, want a permanent %s with the failure reason", err, awssso.CodeFailed)
	}
	// A failed deletion is retried by the revoke machinery: not permanent.
	f.mu.Lock()
	f.assignments[[3]string{psARN, account, aliceID}] = true
	f.mu.Unlock()
	err = esc.Revoke(context.Background(), assignment(aliceID))
	if err == nil || latch.IsPermanent(err) || !strings.Contains(err.Error(), "Not supported policy") {
		t.Fatalf("revoke err = %v, want a retryable error with the failure reason", err)
	}
}

func TestThrottlingAndConflictsAreRetried(t *testing.T) {
	f, esc := setup(t, nil)
	ctx := context.Background()
	throttle := fault{400, "ThrottlingException", "Rate exceeded"}
	conflict := fault{400, "ConflictException", "Another operation is in progress on the account assignment."}
	f.fail("ListAccountAssignments", throttle)
	f.fail("CreateAccountAssignment", conflict, throttle, conflict)
	f.fail("DescribeAccountAssignmentCreationStatus", throttle)
	f.pending = 1
	if err := esc.Grant(ctx, assignment(aliceID)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.callsOf("CreateAccountAssignment")); n != 4 {
		t.Errorf("CreateAccountAssignment called %d times, want 4 (conflict, throttle, conflict, success)", n)
	}
	if !f.assigned(aliceID) {
		t.Fatal("no assignment after the retries")
	}

	f.fail("DeleteAccountAssignment", conflict, conflict)
	if err := esc.Revoke(ctx, assignment(aliceID)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.callsOf("DeleteAccountAssignment")); n != 3 {
		t.Errorf("DeleteAccountAssignment called %d times, want 3", n)
	}
	if f.assigned(aliceID) {
		t.Fatal("the assignment is still there")
	}

	// Throttling that does not stop is left to the revoke machinery: the
	// error is retryable, never permanent.
	f.fail("DeleteAccountAssignment", throttle, throttle, throttle, throttle, throttle)
	err := esc.Revoke(ctx, assignment(aliceID))
	if err == nil || latch.IsPermanent(err) || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("err = %v, want a retryable throttling error", err)
	}
}

func TestConflictOnAnExistingAssignmentCountsAsGranted(t *testing.T) {
	f, esc := setup(t, nil)
	// The listing lags: the assignment exists but is not seen at first.
	f.fail("ListAccountAssignments", fault{500, "InternalServerException", "try again"})
	f.mu.Lock()
	f.assignments[[3]string{psARN, account, aliceID}] = true
	f.mu.Unlock()
	f.fail("CreateAccountAssignment", fault{400, "ConflictException", "The assignment already exists."})
	if err := esc.Grant(context.Background(), assignment(aliceID)); err != nil {
		t.Fatal(err)
	}
}

func TestMissingUserIsAPermanentErrorNamingTheFix(t *testing.T) {
	const ghost = "90676c1234-00000000-0000-0000-0000-000000000000"
	for _, g := range []latch.GrantSpec{assignment(ghost), membership(ghost)} {
		f, esc := setup(t, nil)
		err := esc.Grant(context.Background(), g)
		if err == nil || !latch.IsPermanent(err) || latch.ErrorCodeOf(err) != awssso.CodeUnknownUser ||
			!strings.Contains(err.Error(), "latch users set-identity alice@example.com aws_sso USER_ID") {
			t.Fatalf("%s: err = %v, want a permanent %s naming the fix", g.Target.ID, err, awssso.CodeUnknownUser)
		}
		if f.assigned(ghost) || f.member(ghost) {
			t.Fatal("something was granted")
		}
	}
	_, esc := setup(t, nil)
	err := esc.Grant(context.Background(), assignment(""))
	if err == nil || !latch.IsPermanent(err) || latch.ErrorCodeOf(err) != awssso.CodeNoIdentity {
		t.Fatalf("no identity: err = %v, want a permanent %s", err, awssso.CodeNoIdentity)
	}
}

func TestIdentityIsLookedUpAndRemembered(t *testing.T) {
	f, esc := setup(t, nil)
	f.users["90676c1234-bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"] = fakeUser{email: "b@corp.example", userName: "bob@example.com"}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	flow := &latch.Flow{Name: "prod", Strategy: &latch.Strategy{Type: awssso.Type}, Identity: latch.IdentityConfig{LookupByEmail: true}}
	r := &identity.Resolver{Store: st, Clock: latch.ClockFunc(func() time.Time { return t0 }),
		Escalator: func(*latch.Flow) (latch.Escalator, error) { return esc, nil }}
	ctx := context.Background()

	for _, tt := range []struct{ email, want string }{
		{"alice@example.com", aliceID},                                         // by emails.value
		{"bob@example.com", "90676c1234-bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"}, // by userName
	} {
		f.reset()
		id, err := r.Resolve(ctx, flow, latch.UserRef{Email: tt.email})
		if err != nil || id != tt.want {
			t.Fatalf("resolve %s = %q, %v; want %q", tt.email, id, err, tt.want)
		}
		calls := f.callsOf("GetUserId")
		if len(calls) == 0 {
			t.Fatal("GetUserId not called")
		}
		alt, _ := calls[0].Body["AlternateIdentifier"].(map[string]any)
		wantAlt := map[string]any{"UniqueAttribute": map[string]any{"AttributePath": "emails.value", "AttributeValue": tt.email}}
		if diff := cmp.Diff(wantAlt, alt); diff != "" || calls[0].Body["IdentityStoreId"] != storeID {
			t.Errorf("GetUserId body %v (-want +got):\n%s", calls[0].Body, diff)
		}
		stored, err := st.GetIdentity(ctx, tt.email, awssso.Type)
		if err != nil || stored.ID != tt.want || stored.Source != latch.IdentityFromLookup {
			t.Fatalf("stored identity = %+v, %v", stored, err)
		}
		// Remembered: the next resolve asks AWS nothing.
		f.reset()
		if id, err := r.Resolve(ctx, flow, latch.UserRef{Email: tt.email}); err != nil || id != tt.want {
			t.Fatalf("second resolve = %q, %v", id, err)
		}
		if n := len(f.callsOf("GetUserId")); n != 0 {
			t.Errorf("the second resolve called GetUserId %d times", n)
		}
	}

	// Nobody with that email or user name: a permanent error naming the fix.
	_, err = r.Resolve(ctx, flow, latch.UserRef{Email: "carol@example.com"})
	if err == nil || !latch.IsPermanent(err) || !strings.Contains(err.Error(), "latch users set-identity carol@example.com aws_sso") {
		t.Fatalf("err = %v, want a permanent identity_not_found naming the fix", err)
	}
	if n := len(f.callsOf("GetUserId")); n != 2 {
		t.Errorf("GetUserId called %d times for an unknown person, want 2 (email, then user name)", n)
	}
	if _, err := esc.LookupIdentity(ctx, "carol@example.com"); !errors.Is(err, latch.ErrNotFound) {
		t.Errorf("LookupIdentity err = %v, want ErrNotFound", err)
	}
}

func TestGroupMembership(t *testing.T) {
	f, esc := setup(t, nil)
	ctx := context.Background()
	g := membership(aliceID)
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	create := f.callsOf("CreateGroupMembership")
	want := map[string]any{"IdentityStoreId": storeID, "GroupId": groupID, "MemberId": map[string]any{"UserId": aliceID}}
	if len(create) != 1 || cmp.Diff(want, create[0].Body) != "" {
		t.Fatalf("CreateGroupMembership calls = %v, want one with %v", create, want)
	}
	check(t, esc, g, true)
	// A repeated grant: ConflictException, and the membership is there.
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if !f.member(aliceID) {
		t.Fatal("not a member")
	}

	f.reset()
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"GetGroupMembershipId", "DeleteGroupMembership"}, f.ops()); diff != "" {
		t.Errorf("revoke calls (-want +got):\n%s", diff)
	}
	if del := f.callsOf("DeleteGroupMembership"); del[0].Body["MembershipId"] == "" || del[0].Body["IdentityStoreId"] != storeID {
		t.Errorf("DeleteGroupMembership body = %v", del[0].Body)
	}
	if err := latch.ConfirmRevoked(ctx, esc, g); err != nil {
		t.Fatal(err)
	}
	// A repeated revoke: nothing to delete.
	f.reset()
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(f.ops(), "DeleteGroupMembership") {
		t.Error("a repeated revoke deleted something")
	}

	// A membership removed by someone else between the look-up and the
	// delete is gone, not an error.
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	f.fail("DeleteGroupMembership", fault{400, "ResourceNotFoundException", "membership not found"})
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	// Throttled creation is retried (by the SDK) and succeeds.
	f.fail("CreateGroupMembership", fault{400, "ThrottlingException", "Rate exceeded"})
	f.mu.Lock()
	clear(f.memberships)
	f.mu.Unlock()
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	check(t, esc, g, true)
}

func TestCheckAfterRevokeSeesAccessThatStayed(t *testing.T) {
	f, esc := setup(t, nil)
	ctx := context.Background()
	g := assignment(aliceID)
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	f.keepOnce = true // the deletion "succeeds" but the assignment stays
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := latch.ConfirmRevoked(ctx, esc, g); !errors.Is(err, latch.ErrStillHeld) {
		t.Fatalf("confirm = %v, want ErrStillHeld", err)
	}
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := latch.ConfirmRevoked(ctx, esc, g); err != nil {
		t.Fatalf("confirm after the second revoke = %v", err)
	}
}

func TestRoleIsAssumedWithSTS(t *testing.T) {
	var mu sync.Mutex
	var assumed []string
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		assumed = append(assumed, r.PostForm.Get("Action")+" "+r.PostForm.Get("RoleArn")+" "+r.PostForm.Get("ExternalId"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::210987654321:assumed-role/latch-sso/latch</Arn><AssumedRoleId>AROAEXAMPLE:latch</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>`)
	}))
	t.Cleanup(sts.Close)
	f := newFakeSSO(t)
	env(t, f)
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	esc, err := awssso.New(context.Background(), config(map[string]any{
		"role_arn": "arn:aws:iam::210987654321:role/latch-sso", "external_id": "latch-prod", "region": "eu-west-1"}),
		awssso.WithPollInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := esc.Grant(context.Background(), membership(aliceID)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"AssumeRole arn:aws:iam::210987654321:role/latch-sso latch-prod"}, assumed); diff != "" {
		t.Errorf("STS calls (-want +got):\n%s", diff)
	}
	for _, c := range f.callsOf("CreateGroupMembership") {
		if c.Key != "ASIAASSUMED" {
			t.Errorf("%s signed with %q, want the assumed role's key", c.Target, c.Key)
		}
	}
}

func TestValidate(t *testing.T) {
	_, esc := setup(t, nil)
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		give    map[string]any
		wantErr string
	}{
		{name: "permission set exists", give: map[string]any{"permission_set_arn": psARN, "account_id": account}},
		{name: "group exists", give: map[string]any{"group_id": groupID}},
		{name: "no such permission set", give: map[string]any{"permission_set_arn": strings.Replace(psARN, "ps-2", "ps-3", 1), "account_id": account},
			wantErr: "IAM Identity Center has no permission set"},
		{name: "no such group", give: map[string]any{"group_id": strings.Replace(groupID, "1111", "9999", 1)},
			wantErr: "IAM Identity Center has no group"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := esc.Validate(ctx, latch.Target{ID: "t", Settings: tt.give})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !latch.IsPermanent(err) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a permanent error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSessionWarning(t *testing.T) {
	f, esc := setup(t, nil)
	ctx := context.Background()
	target := latch.Target{ID: "prod-admin", Settings: map[string]any{"permission_set_arn": psARN, "account_id": account}}
	for _, tt := range []struct {
		session string
		longest time.Duration
		want    string
	}{
		{"PT1H", 4 * time.Hour, ""},
		{"PT1H", time.Hour, ""},
		{"PT12H", time.Hour, "can last up to 12h0m0s after it is revoked"},
		{"PT2H30M", 30 * time.Minute, "session duration (2h30m0s) is longer than the longest grant (30m0s)"},
	} {
		f.mu.Lock()
		f.permSets[psARN].session = tt.session
		f.mu.Unlock()
		got, err := esc.SessionWarning(ctx, target, tt.longest)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("session %s, longest %s: warning %q, want %q", tt.session, tt.longest, got, tt.want)
		}
	}
	if got, err := esc.SessionWarning(ctx, latch.Target{ID: "g", Settings: map[string]any{"group_id": groupID}}, time.Minute); got != "" || err != nil {
		t.Errorf("group target: %q, %v", got, err)
	}
}

func TestEndSessionsDeniesTheGranteesEarlierSessions(t *testing.T) {
	f, esc := setup(t, map[string]any{"end_sessions": true})
	ctx := context.Background()
	customer := `{"Version":"2012-10-17","Statement":{"Sid":"ReadOnly","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`
	stale := `{"Sid":"LatchEndSessions90676c1234ffffffff","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"identitystore:userId":"90676c1234-ffffffff"},"DateLessThan":{"aws:TokenIssueTime":"2026-12-01T00:00:00Z"}}}`
	fresh := `{"Sid":"LatchEndSessions90676c1234eeeeeeee","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"identitystore:userId":"90676c1234-eeeeeeee"},"DateLessThan":{"aws:TokenIssueTime":"2026-12-02T07:30:00Z"}}}`
	var doc map[string]any
	_ = json.Unmarshal([]byte(customer), &doc)
	var s1, s2 any
	_ = json.Unmarshal([]byte(stale), &s1)
	_ = json.Unmarshal([]byte(fresh), &s2)
	doc["Statement"] = []any{doc["Statement"], s1, s2}
	b, _ := json.Marshal(doc)
	f.permSets[psARN].inline = string(b)
	f.pending = 2

	g := assignment(aliceID)
	if err := esc.Grant(ctx, g); err != nil {
		t.Fatal(err)
	}
	f.reset()
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	ops := f.ops()
	wantOrder := []string{"DeleteAccountAssignment", "DescribePermissionSet", "GetInlinePolicyForPermissionSet",
		"PutInlinePolicyToPermissionSet", "ProvisionPermissionSet", "DescribePermissionSetProvisioningStatus"}
	last := -1
	for _, op := range wantOrder {
		i := slices.Index(ops, op)
		if i <= last {
			t.Fatalf("calls %v: want %v in that order", ops, wantOrder)
		}
		last = i
	}
	prov := f.callsOf("ProvisionPermissionSet")[0].Body
	if prov["TargetType"] != "AWS_ACCOUNT" || prov["TargetId"] != account || prov["PermissionSetArn"] != psARN {
		t.Errorf("ProvisionPermissionSet body = %v", prov)
	}

	var got struct {
		Version   string
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(f.permSets[psARN].inline), &got); err != nil {
		t.Fatal(err)
	}
	sids := []string{}
	for _, s := range got.Statement {
		sids = append(sids, fmt.Sprint(s["Sid"]))
	}
	// The customer's statement and the fresh deny stay; the stale one (its
	// sessions expired long ago, the session duration being 1h) goes; the
	// grantee's is added, cutting sessions issued up to the revoke.
	if diff := cmp.Diff([]string{"ReadOnly", "LatchEndSessions90676c1234eeeeeeee", "LatchEndSessions90676c1234aaaaaaaabbbbccccddddeeeeeeeeeeee"}, sids); diff != "" {
		t.Fatalf("statements (-want +got):\n%s", diff)
	}
	wantDeny := map[string]any{"Sid": "LatchEndSessions90676c1234aaaaaaaabbbbccccddddeeeeeeeeeeee", "Effect": "Deny", "Action": "*", "Resource": "*",
		"Condition": map[string]any{
			"StringEquals": map[string]any{"identitystore:userId": aliceID},
			"DateLessThan": map[string]any{"aws:TokenIssueTime": "2026-12-02T08:00:01Z"},
		}}
	if diff := cmp.Diff(wantDeny, got.Statement[2]); diff != "" {
		t.Errorf("deny statement (-want +got):\n%s", diff)
	}
	if got.Version != "2012-10-17" {
		t.Errorf("version = %q", got.Version)
	}

	// A repeated revoke replaces the grantee's statement rather than adding one.
	if err := esc.Revoke(ctx, g); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(f.permSets[psARN].inline, aliceID); n != 1 {
		t.Errorf("the grantee appears %d times in the policy, want once", n)
	}

	// A customer policy that is not a policy is a permanent error, and is
	// left as it was.
	f.permSets[psARN].inline = `not json`
	err := esc.Revoke(ctx, g)
	if err == nil || !latch.IsPermanent(err) || latch.ErrorCodeOf(err) != awssso.CodeEndSessions {
		t.Fatalf("err = %v, want a permanent %s", err, awssso.CodeEndSessions)
	}
	if f.permSets[psARN].inline != "not json" {
		t.Error("the unreadable policy was changed")
	}
}

func TestEndSessionsOffLeavesThePolicyAlone(t *testing.T) {
	f, esc := setup(t, nil)
	ctx := context.Background()
	if err := esc.Grant(ctx, assignment(aliceID)); err != nil {
		t.Fatal(err)
	}
	if err := esc.Revoke(ctx, assignment(aliceID)); err != nil {
		t.Fatal(err)
	}
	for _, op := range f.ops() {
		if strings.Contains(op, "InlinePolicy") || strings.Contains(op, "Provision") {
			t.Errorf("called %s without end_sessions", op)
		}
	}
}

func TestPanicBecomesAnError(t *testing.T) {
	var esc awssso.Escalator // no clients: every call panics
	err := esc.Grant(context.Background(), membership(aliceID))
	if err == nil || latch.ErrorCodeOf(err) != awssso.CodePanic || latch.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable %s", err, awssso.CodePanic)
	}
}
