package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

const approvalOnlyFlow = `name: deploy
label: Deploy to production
approval:
  approvers: [alice@example.com]
fields:
  - {name: reason, type: string, required: true}
`

// call sends a raw API call and decodes the error body of a failure.
func call(t *testing.T, srv *server, method, path, token, body string) (int, httpapi.ErrorBody) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var eb httpapi.ErrorBody
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Fatalf("%s %s: %d with body %q, want a JSON error with code and message", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, eb
}

func TestAPIErrors(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{
		"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook"),
		"deploy.yaml":      approvalOnlyFlow,
		"slack-only.yaml":  "name: slack-only\nsources: [slack]\napproval:\n  approvers: [alice@example.com]\n",
	}), t.TempDir())
	ctx := context.Background()
	pending, err := srv.client().CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com",
		Fields: map[string]any{"reason": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	big := `{"flow":"prod-access","user_email":"bob@example.com","fields":{"reason":"` + strings.Repeat("a", 1<<20) + `"}}`
	tests := []struct {
		name, method, path, token, body string
		wantStatus                      int
		wantCode                        string
	}{
		{"no token", "GET", "/v1/requests", "", "", 401, "missing_token"},
		{"wrong token", "GET", "/v1/requests", "nope", "", 401, "invalid_token"},
		{"malformed JSON", "POST", "/v1/requests", adminToken, `{"flow":`, 400, "bad_json"},
		{"unknown key", "POST", "/v1/requests", adminToken, `{"flow":"prod-access","user":"bob@example.com"}`, 400, "bad_json"},
		{"wrong type", "POST", "/v1/requests", adminToken, `{"flow":1}`, 400, "bad_json"},
		{"empty body", "POST", "/v1/requests", adminToken, ``, 400, "bad_json"},
		{"two objects", "POST", "/v1/requests", adminToken, `{} {}`, 400, "bad_json"},
		{"body too large", "POST", "/v1/requests", adminToken, big, 413, "body_too_large"},
		{"missing user", "POST", "/v1/requests", adminToken, `{"flow":"prod-access"}`, 422, "missing_fields"},
		{"bad email", "POST", "/v1/requests", adminToken, `{"flow":"prod-access","user_email":"bob"}`, 422, "invalid_email"},
		{"flow not requestable through the API", "POST", "/v1/requests", adminToken, `{"flow":"slack-only","user_email":"bob@example.com"}`, 403, latch.CodeSourceNotAllowed},
		{"unknown flow", "POST", "/v1/requests", adminToken, `{"flow":"nope","user_email":"bob@example.com","fields":{}}`, 404, "flow_not_found"},
		{"missing required field", "POST", "/v1/requests", adminToken, `{"flow":"prod-access","user_email":"bob@example.com","fields":{}}`, 422, "invalid_fields"},
		{"unknown field", "POST", "/v1/requests", adminToken, `{"flow":"prod-access","user_email":"bob@example.com","fields":{"reason":"x","color":"red"}}`, 422, "invalid_fields"},
		{"bad duration", "POST", "/v1/requests", adminToken, `{"flow":"prod-access","user_email":"bob@example.com","fields":{"reason":"x","duration":"forever"}}`, 422, "invalid_fields"},
		{"unknown request", "GET", "/v1/requests/req_nope", adminToken, "", 404, "request_not_found"},
		{"unknown route", "GET", "/v1/nope", adminToken, "", 404, "route_not_found"},
		{"unknown action", "POST", "/v1/requests/" + pending.ID + "/bless", adminToken, `{"as":"alice@example.com"}`, 404, "route_not_found"},
		{"approve without as", "POST", "/v1/requests/" + pending.ID + "/approve", adminToken, `{}`, 422, "missing_fields"},
		{"not an approver", "POST", "/v1/requests/" + pending.ID + "/approve", adminToken, `{"as":"mallory@other.example"}`, 403, latch.CodeNotApprover},
		{"self-approval", "POST", "/v1/requests/" + pending.ID + "/approve", adminToken, `{"as":"bob@example.com"}`, 403, latch.CodeSelfApproval},
		{"revoke a pending request", "POST", "/v1/requests/" + pending.ID + "/revoke", adminToken, `{"as":"bob@example.com"}`, 409, "not_active"},
		{"cancel by someone else", "POST", "/v1/requests/" + pending.ID + "/cancel", adminToken, `{"as":"mallory@other.example"}`, 403, latch.CodeNotRequester},
		{"bad status filter", "GET", "/v1/requests?status=nope", adminToken, "", 400, "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, eb := call(t, srv, tt.method, tt.path, tt.token, tt.body)
			if status != tt.wantStatus || eb.Error.Code != tt.wantCode {
				t.Errorf("got %d %q (%s), want %d %q", status, eb.Error.Code, eb.Error.Message, tt.wantStatus, tt.wantCode)
			}
		})
	}
	// Refused calls changed nothing.
	r, err := srv.client().GetRequest(ctx, pending.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != latch.StatusPending || len(r.Approvals) != 0 {
		t.Errorf("after refused calls the request is %s with %d approvals, want pending with none", r.Status, len(r.Approvals))
	}
	if got := auditTypes(t, srv.client(), pending.ID); len(got) != 1 {
		t.Errorf("audit trail after refused calls = %v, want only requested", got)
	}
	tg.none(100 * time.Millisecond)
}

func TestDenyAndApprovalOnly(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{
		"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook"),
		"deploy.yaml":      approvalOnlyFlow,
	}), t.TempDir())
	c := srv.client()
	ctx := context.Background()

	denied, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Act(ctx, denied.ID, "deny", httpapi.ActionBody{As: "alice@example.com", Reason: "not now"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != latch.StatusDenied || r.Decision == nil || r.Decision.Reason != "not now" {
		t.Errorf("denied request = %s %+v, want denied with the reason", r.Status, r.Decision)
	}
	_, err = c.Act(ctx, denied.ID, "approve", httpapi.ActionBody{As: "alice@example.com"})
	var le *latch.Error
	if !errors.As(err, &le) || le.Code != "not_pending" {
		t.Errorf("approving a denied request: %v, want not_pending", err)
	}

	dep, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "deploy", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "release 1.2"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err = c.Act(ctx, dep.ID, "approve", httpapi.ActionBody{As: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != latch.StatusApproved {
		t.Errorf("approval-only request after approval = %s, want approved", r.Status)
	}
	tg.none(200 * time.Millisecond) // nothing to grant
}

// A target that refuses with a 4xx fails the request with the reason.
func TestWebhookPermanentFailure(t *testing.T) {
	tg := newTarget(t)
	tg.setStatus(http.StatusForbidden)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	tg.next(10 * time.Second)
	r := waitStatus(t, c, req.ID, latch.StatusFailed, 5*time.Second)
	if r.Failure == nil || !strings.Contains(r.Failure.Message, "403") {
		t.Errorf("failure = %+v, want one naming the 403", r.Failure)
	}
	tg.none(200 * time.Millisecond) // a permanent failure is not retried
}

// A bad flow stops the server with file:line: reason, and so does validate.
func TestBadFlowIsRefused(t *testing.T) {
	dir := writeFlows(t, map[string]string{"broken.yaml": "name: broken\napproval:\n  quorum: 0\n  approvers: [not-an-email]\n"})
	out, err := exec.Command(latchBin, "server", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--flows", dir).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("server with a bad flow: err = %v, want a non-zero exit\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("broken.yaml:3:")) || !bytes.Contains(out, []byte("broken.yaml:4:")) {
		t.Errorf("server output does not name the file and lines:\n%s", out)
	}
	out, err = exec.Command(latchBin, "flows", "validate", dir).CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("flows validate: err = %v, want exit code 2\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("broken.yaml:3:")) {
		t.Errorf("validate output does not name the file and line:\n%s", out)
	}
	out, err = exec.Command(latchBin, "flows", "validate", "../flows").CombinedOutput()
	if err != nil {
		t.Errorf("the example flows do not validate: %v\n%s", err, out)
	}
}
