package awssso_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSSO is IAM Identity Center's admin API (SWBExternalService) and its
// identity store (AWSIdentityStore) as the SDK reaches them: AWS JSON 1.1,
// POST / with X-Amz-Target and Content-Type application/x-amz-json-1.1,
// errors as {"__type": ..., "Message": ...} with a 4xx or 5xx status. It
// keeps users, groups, memberships, permission sets and account
// assignments, and runs assignment and provisioning requests
// asynchronously: a request answers IN_PROGRESS to the first `pending`
// status polls, then SUCCEEDED (or FAILED with failReason).
type fakeSSO struct {
	tb testing.TB

	mu          sync.Mutex
	calls       []call
	faults      map[string][]fault // by operation: answered before the operation runs, one per call
	users       map[string]fakeUser
	groups      map[string]bool
	memberships map[string][2]string // membership id → group, user
	permSets    map[string]*fakePermSet
	assignments map[[3]string]bool // permission set, account, user
	requests    map[string]*fakeRequest
	pending     int    // IN_PROGRESS answers each new request gives before it ends
	failReason  string // when set, assignment requests end FAILED with it
	pageSize    int    // ListAccountAssignments page size
	keepOnce    bool   // the next DeleteAccountAssignment succeeds but leaves the assignment
	seq         int
}

type fakeUser struct{ email, userName string }

type fakePermSet struct {
	session string
	inline  string
}

type fakeRequest struct {
	kind    string // "create", "delete", "provision"
	key     [3]string
	polls   int
	failure string
}

type call struct {
	Target string
	Body   map[string]any
	Key    string // the access key id the call was signed with
}

type fault struct {
	status int
	typ    string
	msg    string
}

const (
	instanceARN = "arn:aws:sso:::instance/ssoins-1111111111111111"
	psARN       = "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-2222222222222222"
	storeID     = "d-1234567890"
	account     = "123456789012"
	groupID     = "90676c1234-11111111-2222-3333-4444-555555555555"
	aliceID     = "90676c1234-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)

func newFakeSSO(tb testing.TB) *fakeSSO {
	return &fakeSSO{tb: tb, faults: map[string][]fault{},
		users:       map[string]fakeUser{aliceID: {email: "alice@example.com", userName: "alice"}},
		groups:      map[string]bool{groupID: true},
		memberships: map[string][2]string{},
		permSets:    map[string]*fakePermSet{psARN: {session: "PT1H"}},
		assignments: map[[3]string]bool{}, requests: map[string]*fakeRequest{}, pageSize: 1}
}

// serve starts a server for one of the two services; each is reached
// through its own endpoint variable.
func (f *fakeSSO) serve(prefix string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" ||
			!strings.HasPrefix(target, prefix+".") {
			writeErr(w, fault{400, "UnknownOperationException", fmt.Sprintf("bad request %s %s %q %q", r.Method, r.URL.Path, target, r.Header.Get("Content-Type"))})
			return
		}
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			writeErr(w, fault{400, "SerializationException", err.Error()})
			return
		}
		key := ""
		if _, after, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
			key, _, _ = strings.Cut(after, "/")
		}
		op := strings.TrimPrefix(target, prefix+".")
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, call{Target: target, Body: body, Key: key})
		if q := f.faults[op]; len(q) > 0 {
			f.faults[op] = q[1:]
			writeErr(w, q[0])
			return
		}
		out, flt := f.handle(op, body)
		if flt != nil {
			writeErr(w, *flt)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("req-%d", len(f.calls)))
		_ = json.NewEncoder(w).Encode(out)
	}))
	f.tb.Cleanup(srv.Close)
	return srv
}

func writeErr(w http.ResponseWriter, f fault) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "req-err")
	w.WriteHeader(f.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": f.typ, "Message": f.msg})
}

func notFound(what string) *fault {
	return &fault{400, "ResourceNotFoundException", what + " not found"}
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func (f *fakeSSO) newRequest(kind string, key [3]string) (string, *fakeRequest) {
	f.seq++
	r := &fakeRequest{kind: kind, key: key, polls: f.pending}
	if kind != "provision" {
		r.failure = f.failReason
	}
	id := fmt.Sprintf("%s-%d", kind, f.seq)
	f.requests[id] = r
	return id, r
}

// status answers a request's status, running it one poll further.
func (f *fakeSSO) status(id string, r *fakeRequest, poll bool) map[string]any {
	st := map[string]any{"RequestId": id, "CreatedDate": float64(time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC).Unix())}
	switch {
	case r.polls > 0:
		if poll {
			r.polls--
		}
		st["Status"] = "IN_PROGRESS"
	case r.failure != "":
		st["Status"], st["FailureReason"] = "FAILED", r.failure
	default:
		st["Status"] = "SUCCEEDED"
		switch r.kind {
		case "create":
			f.assignments[r.key] = true
		case "delete":
			if f.keepOnce {
				f.keepOnce = false
			} else {
				delete(f.assignments, r.key)
			}
		}
	}
	if r.kind == "provision" {
		st["AccountId"], st["PermissionSetArn"] = r.key[1], r.key[0]
	} else {
		st["PermissionSetArn"], st["TargetId"], st["TargetType"], st["PrincipalId"], st["PrincipalType"] =
			r.key[0], r.key[1], "AWS_ACCOUNT", r.key[2], "USER"
	}
	return st
}

func (f *fakeSSO) handle(op string, b map[string]any) (any, *fault) {
	if op != "GetUserId" && op != "GetGroupMembershipId" && op != "CreateGroupMembership" &&
		op != "DeleteGroupMembership" && op != "DescribeGroup" && str(b, "InstanceArn") != instanceARN {
		return nil, notFound("instance")
	}
	if strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "Create") && op != "CreateAccountAssignment" ||
		strings.HasPrefix(op, "Delete") && op != "DeleteAccountAssignment" || op == "DescribeGroup" {
		if str(b, "IdentityStoreId") != storeID && op != "GetInlinePolicyForPermissionSet" {
			return nil, notFound("identity store")
		}
	}
	switch op {
	case "CreateAccountAssignment", "DeleteAccountAssignment":
		if str(b, "PrincipalType") != "USER" || str(b, "TargetType") != "AWS_ACCOUNT" {
			return nil, &fault{400, "ValidationException", "bad principal or target type"}
		}
		if f.permSets[str(b, "PermissionSetArn")] == nil {
			return nil, notFound("permission set")
		}
		if _, ok := f.users[str(b, "PrincipalId")]; !ok {
			return nil, notFound("principal")
		}
		key := [3]string{str(b, "PermissionSetArn"), str(b, "TargetId"), str(b, "PrincipalId")}
		kind, field := "create", "AccountAssignmentCreationStatus"
		if op == "DeleteAccountAssignment" {
			kind, field = "delete", "AccountAssignmentDeletionStatus"
		}
		id, r := f.newRequest(kind, key)
		return map[string]any{field: f.status(id, r, false)}, nil
	case "DescribeAccountAssignmentCreationStatus", "DescribeAccountAssignmentDeletionStatus":
		field, idField, kind := "AccountAssignmentCreationStatus", "AccountAssignmentCreationRequestId", "create"
		if op == "DescribeAccountAssignmentDeletionStatus" {
			field, idField, kind = "AccountAssignmentDeletionStatus", "AccountAssignmentDeletionRequestId", "delete"
		}
		r := f.requests[str(b, idField)]
		if r == nil || r.kind != kind {
			return nil, notFound("request")
		}
		return map[string]any{field: f.status(str(b, idField), r, true)}, nil
	case "ListAccountAssignments":
		var all []map[string]any
		// Other principals first, so that the grantee's is on a later page.
		all = append(all, map[string]any{"AccountId": str(b, "AccountId"), "PermissionSetArn": str(b, "PermissionSetArn"), "PrincipalId": aliceID, "PrincipalType": "GROUP"},
			map[string]any{"AccountId": str(b, "AccountId"), "PermissionSetArn": str(b, "PermissionSetArn"), "PrincipalId": "90676c1234-99999999-9999-9999-9999-999999999999", "PrincipalType": "USER"})
		for k := range f.assignments {
			if k[0] == str(b, "PermissionSetArn") && k[1] == str(b, "AccountId") {
				all = append(all, map[string]any{"AccountId": k[1], "PermissionSetArn": k[0], "PrincipalId": k[2], "PrincipalType": "USER"})
			}
		}
		start := 0
		if tok := str(b, "NextToken"); tok != "" {
			fmt.Sscanf(tok, "page-%d", &start)
		}
		end := min(start+f.pageSize, len(all))
		out := map[string]any{"AccountAssignments": all[start:end]}
		if end < len(all) {
			out["NextToken"] = fmt.Sprintf("page-%d", end)
		}
		return out, nil
	case "DescribePermissionSet":
		ps := f.permSets[str(b, "PermissionSetArn")]
		if ps == nil {
			return nil, notFound("permission set")
		}
		return map[string]any{"PermissionSet": map[string]any{"Name": "Admin", "PermissionSetArn": str(b, "PermissionSetArn"), "SessionDuration": ps.session}}, nil
	case "GetInlinePolicyForPermissionSet":
		ps := f.permSets[str(b, "PermissionSetArn")]
		if ps == nil {
			return nil, notFound("permission set")
		}
		return map[string]any{"InlinePolicy": ps.inline}, nil
	case "PutInlinePolicyToPermissionSet":
		ps := f.permSets[str(b, "PermissionSetArn")]
		if ps == nil {
			return nil, notFound("permission set")
		}
		ps.inline = str(b, "InlinePolicy")
		return map[string]any{}, nil
	case "ProvisionPermissionSet":
		if str(b, "TargetType") != "AWS_ACCOUNT" || str(b, "TargetId") == "" {
			return nil, &fault{400, "ValidationException", "bad target"}
		}
		id, r := f.newRequest("provision", [3]string{str(b, "PermissionSetArn"), str(b, "TargetId")})
		return map[string]any{"PermissionSetProvisioningStatus": f.status(id, r, false)}, nil
	case "DescribePermissionSetProvisioningStatus":
		r := f.requests[str(b, "ProvisionPermissionSetRequestId")]
		if r == nil || r.kind != "provision" {
			return nil, notFound("request")
		}
		return map[string]any{"PermissionSetProvisioningStatus": f.status(str(b, "ProvisionPermissionSetRequestId"), r, true)}, nil

	case "GetUserId":
		alt, _ := b["AlternateIdentifier"].(map[string]any)
		ua, _ := alt["UniqueAttribute"].(map[string]any)
		path, value := str(ua, "AttributePath"), str(ua, "AttributeValue")
		for id, u := range f.users {
			if path == "emails.value" && u.email == value || path == "userName" && u.userName == value {
				return map[string]any{"IdentityStoreId": storeID, "UserId": id}, nil
			}
		}
		return nil, notFound("user")
	case "DescribeGroup":
		if !f.groups[str(b, "GroupId")] {
			return nil, notFound("group")
		}
		return map[string]any{"IdentityStoreId": storeID, "GroupId": str(b, "GroupId"), "DisplayName": "admins"}, nil
	case "GetGroupMembershipId", "CreateGroupMembership":
		member, _ := b["MemberId"].(map[string]any)
		user, group := str(member, "UserId"), str(b, "GroupId")
		if !f.groups[group] {
			return nil, notFound("group")
		}
		if _, ok := f.users[user]; !ok {
			return nil, notFound("user")
		}
		for id, m := range f.memberships {
			if m == [2]string{group, user} {
				if op == "CreateGroupMembership" {
					return nil, &fault{400, "ConflictException", "Member and Group relationship already exists."}
				}
				return map[string]any{"IdentityStoreId": storeID, "MembershipId": id}, nil
			}
		}
		if op == "GetGroupMembershipId" {
			return nil, notFound("membership")
		}
		f.seq++
		id := fmt.Sprintf("m-%d", f.seq)
		f.memberships[id] = [2]string{group, user}
		return map[string]any{"IdentityStoreId": storeID, "MembershipId": id}, nil
	case "DeleteGroupMembership":
		id := str(b, "MembershipId")
		if _, ok := f.memberships[id]; !ok {
			return nil, notFound("membership")
		}
		delete(f.memberships, id)
		return map[string]any{}, nil
	}
	return nil, &fault{400, "UnknownOperationException", op}
}

// fail queues faults answered to the next calls of op.
func (f *fakeSSO) fail(op string, faults ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = append(f.faults[op], faults...)
}

// ops returns the operations called, in order, without their service prefix.
func (f *fakeSSO) ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		_, out[i], _ = strings.Cut(c.Target, ".")
	}
	return out
}

// callsOf returns the bodies of the calls of op.
func (f *fakeSSO) callsOf(op string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if strings.HasSuffix(c.Target, "."+op) {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeSSO) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

func (f *fakeSSO) assigned(user string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.assignments[[3]string{psARN, account, user}]
}

func (f *fakeSSO) member(user string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.memberships {
		if m == [2]string{groupID, user} {
			return true
		}
	}
	return false
}
