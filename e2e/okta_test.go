package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/escalator/okta/oktafake"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

const (
	oktaToken    = "00e2eTOKENxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	oktaGroup    = "00g1emaKYZTWRYYRRTSK"
	oktaAppGroup = "00g2appGROUPfromAD01"
)

func oktaFlow(url, group string) string {
	return `name: okta-access
allow_revoke: true
schedule_deescalation: true
fields:
  - {name: duration, type: duration, default: 1h}
approval:
  approvers: [alice@example.com]
strategy:
  type: okta
  org_url: ` + url + `
  token_env: OKTA_API_TOKEN
  targets:
    - {id: prod, label: prod-admins, settings: {group_id: ` + group + `}}
`
}

func fakeOkta(t *testing.T) (*oktafake.Okta, string) {
	t.Helper()
	fake := oktafake.New(oktaToken)
	fake.AddGroup(oktafake.Group{ID: oktaGroup, Name: "prod-admins"})
	fake.AddGroup(oktafake.Group{ID: oktaAppGroup, Type: "APP_GROUP", Name: "Domain Admins"})
	fake.AddUser(oktafake.User{ID: "00u1janeXXXXXXXXXXXX", Login: "jane@example.com", Email: "jane@example.com"})
	return fake, oktafake.Serve(t, fake)
}

// `latch flows validate` refuses an app-mastered group, naming its type.
func TestOktaFlowsValidate(t *testing.T) {
	_, url := fakeOkta(t)
	dir := writeFlows(t, map[string]string{"okta.yaml": oktaFlow(url, oktaAppGroup)})
	cmd := exec.Command(latchBin, "flows", "validate", dir)
	cmd.Env = append(cmd.Environ(), "OKTA_API_TOKEN="+oktaToken)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "APP_GROUP") || !strings.Contains(string(out), "okta.yaml") {
		t.Fatalf("flows validate with an app group: %v\n%s", err, out)
	}
}

// The okta strategy through latch server: the grantee's Okta user is found
// by email, the grant adds them to the group, the revoke at the end removes
// them and is verified by a check.
func TestOktaThroughServer(t *testing.T) {
	fake, url := fakeOkta(t)
	srv := startServerEnv(t, []string{"OKTA_API_TOKEN=" + oktaToken}, writeFlows(t, map[string]string{"okta.yaml": oktaFlow(url, oktaGroup)}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "okta-access", UserEmail: "jane@example.com", Fields: map[string]any{"duration": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, req.ID, latch.StatusActive, 30*time.Second)
	if !fake.Member(oktaGroup, "00u1janeXXXXXXXXXXXX") {
		t.Fatal("active, but jane is not in the group")
	}
	waitStatus(t, c, req.ID, latch.StatusEnded, 90*time.Second)
	if fake.Member(oktaGroup, "00u1janeXXXXXXXXXXXX") {
		t.Fatal("ended, but jane is still in the group")
	}
	evs, err := c.Events(ctx, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	var verified bool
	for _, e := range evs {
		if e.Type == latch.AuditDeescalated {
			verified = e.Data["verified"] == true
		}
	}
	if !verified {
		t.Errorf("the deescalated event is not verified: %+v", evs)
	}
}
