package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/signing"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// Fault tests of the revoke guarantee: real `latch server` processes and a
// webhook target whose answers are scripted per action. Each takes tens of
// seconds (the server's own retry timing: six escalation attempts over
// about half a minute; the overdue threshold of a minute), so they run in
// parallel.

// reply is one scripted answer of the fault target: an HTTP status, or a
// hang until release is closed (the server then sees its call time out).
type reply struct {
	status  int
	release chan struct{}
}

// faultTarget is a webhook target that verifies Latch's signatures and
// answers each action from a script (the last answer repeats; none: 200).
type faultTarget struct {
	t     testing.TB
	srv   *httptest.Server
	mu    sync.Mutex
	rules map[string][]reply
	log   []hookCall // every call, with the status answered in Body["_status"]
	ch    chan hookCall
}

func newFaultTarget(t testing.TB) *faultTarget {
	t.Helper()
	ft := &faultTarget{t: t, rules: map[string][]reply{}, ch: make(chan hookCall, 1000)}
	ft.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := signing.Verify(r.Header, body, []byte(webhookSecret), time.Now(), signing.DefaultTolerance); err != nil {
			t.Errorf("webhook call with a bad signature: %v", err)
			http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		action, _ := m["action"].(string)
		ft.mu.Lock()
		rep := reply{status: http.StatusOK}
		if s := ft.rules[action]; len(s) > 0 {
			rep = s[0]
			if len(s) > 1 {
				ft.rules[action] = s[1:]
			}
		}
		ft.mu.Unlock()
		if rep.release != nil {
			select {
			case <-rep.release:
			case <-r.Context().Done():
			}
			rep.status = http.StatusOK // the target applied it, however late
		}
		m["_status"] = rep.status
		call := hookCall{At: time.Now(), Action: action, Body: m}
		ft.mu.Lock()
		ft.log = append(ft.log, call)
		ft.mu.Unlock()
		ft.ch <- call
		w.WriteHeader(rep.status)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(ft.srv.Close)
	return ft
}

// on scripts the answers to action.
func (ft *faultTarget) on(action string, replies ...reply) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.rules[action] = replies
}

func status(code int, n int) []reply {
	out := make([]reply, n)
	for i := range out {
		out[i] = reply{status: code}
	}
	return out
}

// calls lists the calls answered so far.
func (ft *faultTarget) calls() []hookCall {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return slices.Clone(ft.log)
}

// await waits for the next answered call of action that satisfies ok.
func (ft *faultTarget) await(action string, timeout time.Duration, ok func(hookCall) bool) hookCall {
	ft.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case c := <-ft.ch:
			if c.Action == action && (ok == nil || ok(c)) {
				return c
			}
		case <-deadline:
			ft.t.Fatalf("no %s call within %s; calls: %v", action, timeout, summary(ft.calls()))
			return hookCall{}
		}
	}
}

func answered(code int) func(hookCall) bool {
	return func(c hookCall) bool { return c.Body["_status"] == code }
}

func summary(calls []hookCall) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = fmt.Sprintf("%s→%v", c.Action, c.Body["_status"])
	}
	return out
}

// faultFlow is webhookFlow with a name, and a call timeout of 2s.
func faultFlow(name, url string) string {
	f := strings.Replace(webhookFlow(url), "name: prod-access", "name: "+name, 1)
	return strings.Replace(f, "  secret_env: LATCH_WEBHOOK_SECRET\n", "  secret_env: LATCH_WEBHOOK_SECRET\n  timeout: 2s\n", 1)
}

// grantFor asks for access through flow for seconds and approves it.
func grantFor(t testing.TB, c *client.Client, flow string, seconds int) latch.Request {
	t.Helper()
	ctx := context.Background()
	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: flow, UserEmail: "bob@example.com",
		Fields: map[string]any{"reason": "fault test", "duration": seconds}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	return req
}

// waitRequest polls the request until ok, failing after timeout.
func waitRequest(t testing.TB, c *client.Client, id string, timeout time.Duration, what string, ok func(latch.Request) bool) latch.Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := c.GetRequest(context.Background(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s is %s (access %q), want %s after %s", id, r.Status, r.Access, what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An escalation that failed without a refusal may have granted: its
// compensating revoke is retried until the target has revoked, and an admin's
// retry of the failed request first completes that revoke, then grants anew.
func TestFaultFailedEscalationIsRevokedUntilDone(t *testing.T) {
	t.Parallel()
	ft := newFaultTarget(t)
	// Every escalation attempt fails (six), then the retry's works; the
	// revoke fails until it is allowed.
	ft.on("escalate", append(status(http.StatusServiceUnavailable, 6), reply{status: http.StatusOK})...)
	ft.on("deescalate", reply{status: http.StatusServiceUnavailable})
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": faultFlow("prod-access", ft.srv.URL+"/hook")}),
		t.TempDir(), "--domain", "example.com")
	c := srv.client()
	req := grantFor(t, c, "prod-access", 3600)

	failed := waitRequest(t, c, req.ID, 90*time.Second, "failed with access maybe held", func(r latch.Request) bool {
		return r.Status == latch.StatusFailed
	})
	if failed.Access != latch.AccessMaybeHeld || failed.Failure == nil || !failed.Failure.MaybeHeld {
		t.Fatalf("failed request: access %q, failure %+v; want maybe_held", failed.Access, failed.Failure)
	}
	// The compensation fails, and is retried.
	ft.await("deescalate", 30*time.Second, answered(http.StatusServiceUnavailable))
	ft.await("deescalate", 30*time.Second, answered(http.StatusServiceUnavailable))

	// An admin retries while the revoke is still failing: nothing is granted
	// before the revoke is done.
	if out, stderr, code := cli(t, srv, "users", "set-role", "root@example.com", "--role", "admin"); code != 0 {
		t.Fatalf("set-role: exit %d: %s%s", code, out, stderr)
	}
	if out, stderr, code := cli(t, srv, "retry", req.ID, "--as", "root@example.com"); code != 0 {
		t.Fatalf("retry: exit %d: %s%s", code, out, stderr)
	}
	ft.on("deescalate", reply{status: http.StatusOK})
	ft.await("deescalate", 60*time.Second, answered(http.StatusOK))
	ft.await("escalate", 30*time.Second, answered(http.StatusOK))
	// The order of the target's calls: the grant that worked comes after
	// the revoke that worked, never before.
	calls := summary(ft.calls())
	revoked := slices.Index(calls, "deescalate→200")
	granted := slices.Index(calls, "escalate→200")
	if revoked < 0 || granted < revoked {
		t.Errorf("target calls %v: the retry granted before the revoke of the failed grant was done", calls)
	}
	active := waitStatus(t, c, req.ID, latch.StatusActive, 30*time.Second)
	if active.GrantID == failed.GrantID {
		t.Errorf("the retry is on the failed grant %s, want a new one", failed.GrantID)
	}
	types := auditTypes(t, c, req.ID)
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditFailed, latch.AuditRetried, latch.AuditEscalated}
	if !slices.Equal(types, want) {
		t.Errorf("audit trail %v, want %v", types, want)
	}
	evs, err := c.Events(context.Background(), req.ID)
	if err != nil {
		t.Fatal(err)
	}
	if evs[2].Data["access"] != string(latch.AccessMaybeHeld) {
		t.Errorf("failed event data %v, want access maybe_held", evs[2].Data)
	}
}

// Without a retry, the failed request shows its access revoked once the
// compensation succeeded, and says so in its audit trail.
func TestFaultCompensationFailingOnceIsRetried(t *testing.T) {
	t.Parallel()
	ft := newFaultTarget(t)
	ft.on("escalate", reply{status: http.StatusServiceUnavailable})
	ft.on("deescalate", reply{status: http.StatusBadGateway}, reply{status: http.StatusOK})
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": faultFlow("prod-access", ft.srv.URL+"/hook")}), t.TempDir())
	c := srv.client()
	req := grantFor(t, c, "prod-access", 3600)
	r := waitRequest(t, c, req.ID, 120*time.Second, "failed with access revoked", func(r latch.Request) bool {
		return r.Status == latch.StatusFailed && r.Access == latch.AccessRevoked
	})
	var de []string
	for _, call := range ft.calls() {
		if call.Action == "deescalate" {
			de = append(de, fmt.Sprint(call.Body["_status"]))
		}
	}
	if !slices.Equal(de, []string{"502", "200"}) {
		t.Errorf("deescalate answers %v, want the failed compensation and its retry", de)
	}
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditFailed, latch.AuditDeescalated}
	if got := auditTypes(t, c, r.ID); !slices.Equal(got, want) {
		t.Errorf("audit trail %v, want %v", got, want)
	}
}

// A flow removed while its grant is active: after a restart without it the
// server names the grant, and revokes it on time with what the grant
// recorded.
func TestFaultRemovedFlowIsRevokedOnTimeAfterRestart(t *testing.T) {
	t.Parallel()
	ft := newFaultTarget(t)
	data := t.TempDir()
	srv := startServer(t, writeFlows(t, map[string]string{"temp-access.yaml": faultFlow("temp-access", ft.srv.URL+"/hook")}), data)
	c := srv.client()
	// Long enough for the stop, the restart and its checks to happen before
	// the end on a loaded machine: the revoke must come from the restarted
	// server, at the end.
	req := grantFor(t, c, "temp-access", 45)
	active := waitStatus(t, c, req.ID, latch.StatusActive, 30*time.Second)
	srv.stop()

	// The flow file is gone (another flow remains).
	srv = startServer(t, writeFlows(t, map[string]string{"other.yaml": faultFlow("other-access", ft.srv.URL+"/other")}), data)
	if !srv.logged(active.GrantID) || !srv.logged("gone from the flow files") {
		t.Errorf("the server did not name grant %s of the removed flow at start", active.GrantID)
	}
	if time.Now().After(*active.EndsAt) {
		t.Fatalf("the restart took past the grant's end; the test cannot tell the restarted server revoked on time")
	}
	de := ft.await("deescalate", time.Until(*active.EndsAt)+30*time.Second, nil)
	if late := de.At.Sub(*active.EndsAt); late < 0 || late > 5*time.Second {
		t.Errorf("revoke at %s after the end, want on time (0..5s)", late)
	}
	grant, _ := de.Body["grant"].(map[string]any)
	target, _ := grant["target"].(map[string]any)
	if grant["id"] != active.GrantID || target["id"] != "prod-db" {
		t.Errorf("the revoke names grant %v, target %v; want %s on prod-db, as recorded", grant["id"], target, active.GrantID)
	}
	ended := waitStatus(t, srv.client(), req.ID, latch.StatusEnded, 30*time.Second)
	if ended.Failure != nil {
		t.Errorf("ended with failure %+v", ended.Failure)
	}
	if strings.Contains(srv.logs.String(), "flow_not_found") {
		t.Errorf("the server logged flow_not_found:\n%s", srv.logs.String())
	}
}

// A crash (SIGKILL) while the escalation hangs does not extend access: the
// end stays the first attempt plus the duration, however long the server was
// down, and the revoke comes then.
func TestFaultCrashDuringEscalationDoesNotExtendAccess(t *testing.T) {
	t.Parallel()
	ft := newFaultTarget(t)
	hang := make(chan struct{})
	defer close(hang)
	ft.on("escalate", reply{release: hang}, reply{status: http.StatusOK})
	flows := writeFlows(t, map[string]string{"prod-access.yaml": faultFlow("prod-access", ft.srv.URL+"/hook")})
	data := t.TempDir()
	srv := startServer(t, flows, data)
	c := srv.client()
	const seconds = 20
	asked := time.Now()
	req := grantFor(t, c, "prod-access", seconds)
	first := time.Now()
	srv.kill() // while the first escalate call hangs
	time.Sleep(3 * time.Second)

	srv = startServer(t, flows, data)
	c = srv.client()
	active := waitStatus(t, c, req.ID, latch.StatusActive, 60*time.Second)
	// The end was fixed when the grant started, before the first attempt
	// (just after the approval): the outage added nothing.
	if active.EndsAt == nil || active.EndsAt.Before(asked.Add(seconds*time.Second)) || active.EndsAt.After(first.Add(seconds*time.Second)) {
		t.Fatalf("ends at %v, want within [%v, %v]: the first attempt plus %ds", active.EndsAt,
			asked.Add(seconds*time.Second), first.Add(seconds*time.Second), seconds)
	}
	if !active.StartsAt.After(first) {
		t.Errorf("starts at %v, want after the restart", active.StartsAt)
	}
	de := ft.await("deescalate", 60*time.Second, nil)
	if late := de.At.Sub(*active.EndsAt); late < 0 || late > 5*time.Second {
		t.Errorf("revoke %s after the fixed end, want 0..5s", late)
	}
	waitStatus(t, c, req.ID, latch.StatusEnded, 30*time.Second)
}

// A target that refuses every revoke: the revoke is retried, and within 75s
// of the end (the real default threshold is 60s) revoke_overdue is recorded
// with the last error, an ERROR is logged, and Slack is alerted (the
// approval channel, the approval message's thread, the admins' DMs). When
// the target relents, the grant ends.
func TestFaultRefusedRevokesAreOverdue(t *testing.T) {
	t.Parallel()
	ft := newFaultTarget(t)
	ft.on("deescalate", reply{status: http.StatusForbidden})
	const opsSlack = "U0OPS"
	slack := slacktest.NewServer(t)
	slack.AddUser(bobSlack, slacktest.Team, "bob@example.com")
	slack.AddUser(aliceSlack, slacktest.Team, "alice@example.com")
	slack.AddUser(opsSlack, slacktest.Team, "ops@example.com")
	srv := startServerEnv(t, []string{"SLACK_SIGNING_SECRET=" + slackSecret, "SLACK_BOT_TOKEN=" + slacktest.Token, "SLACK_API_URL=" + slack.URL},
		writeFlows(t, map[string]string{"prod-access.yaml": faultFlow("prod-access", ft.srv.URL+"/hook")}), t.TempDir())
	c := srv.client()
	if _, err := c.SetRole(context.Background(), "ops@example.com", latch.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	req := grantFor(t, c, "prod-access", 2)
	active := waitStatus(t, c, req.ID, latch.StatusActive, 30*time.Second)
	end := *active.EndsAt

	var overdue latch.AuditEvent
	deadline := end.Add(90 * time.Second)
	for overdue.Type == "" {
		evs, err := c.Events(context.Background(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Type == latch.AuditRevokeOverdue {
				overdue = e
			}
		}
		if overdue.Type == "" && time.Now().After(deadline) {
			t.Fatalf("no revoke_overdue 90s after the end; events %v", auditTypes(t, c, req.ID))
		}
		time.Sleep(200 * time.Millisecond)
	}
	late := overdue.At.Sub(end)
	t.Logf("revoke_overdue recorded %s after the end", late.Round(time.Millisecond))
	if late < time.Minute || late > 75*time.Second {
		t.Errorf("revoke_overdue %s after the end, want between 60s and 75s", late)
	}
	if msg, _ := overdue.Data["last_error"].(string); !strings.Contains(msg, "403") {
		t.Errorf("revoke_overdue data %v, want the last error (403)", overdue.Data)
	}
	if !srv.logged("revoke overdue") {
		t.Error("no ERROR log line for the overdue revoke")
	}
	channel := slack.ChannelID("access-requests")
	ts := messageTS(t, slack, channel)
	alerted := func(texts []string) bool {
		return slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, "Revoke overdue") && strings.Contains(s, "403") })
	}
	var inThread []string
	alertDeadline := time.Now().Add(30 * time.Second)
	for {
		inThread = nil
		for _, call := range slack.CallsTo("chat.postMessage") {
			if call.Param("channel") == channel && call.Param("thread_ts") == ts {
				inThread = append(inThread, call.Param("text"))
			}
		}
		if alerted(slack.Posts("#access-requests")) && alerted(inThread) && alerted(slack.Posts(slack.IM(opsSlack))) {
			break
		}
		if time.Now().After(alertDeadline) {
			t.Fatalf("no overdue alert in Slack within 30s: channel %q, thread %q, admin %q",
				slack.Posts("#access-requests"), inThread, slack.Posts(slack.IM(opsSlack)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if refused := slack.Refused(); len(refused) > 0 {
		t.Errorf("Slack refused %d calls: %v", len(refused), refused)
	}
	var refused int
	for _, call := range ft.calls() {
		if call.Action == "deescalate" {
			refused++
		}
	}
	if refused < 3 {
		t.Errorf("%d revoke attempts in a minute, want them retried", refused)
	}
	if r, _ := c.GetRequest(context.Background(), req.ID); r.Status != latch.StatusDeescalating {
		t.Errorf("request %s while its revoke is overdue, want deescalating", r.Status)
	}
	ft.on("deescalate", reply{status: http.StatusOK})
	waitStatus(t, c, req.ID, latch.StatusEnded, 60*time.Second)
}

// A full disk when a grant ends: the end cannot be recorded, and is retried
// until it is; the revoke follows as soon as space comes back. Needs root to
// mount a small tmpfs.
func TestFaultDiskFullAtGrantEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	t.Parallel()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	data := filepath.Join(mnt, "data")
	ft := newFaultTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": faultFlow("prod-access", ft.srv.URL+"/hook")}), data)
	c := srv.client()
	// Long enough for filling the disk (up to 5000 small writes) before the
	// end on a loaded machine.
	req := grantFor(t, c, "prod-access", 60)
	active := waitStatus(t, c, req.ID, latch.StatusActive, 30*time.Second)

	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	// bbolt reuses the pages it freed: write small changes until even those
	// fail, so that no commit can find room.
	exhaust(t, srv)
	if time.Now().After(*active.EndsAt) {
		t.Fatalf("filling the disk took past the grant's end")
	}
	// The end passes with the disk full. bbolt hands out the pages earlier
	// transactions freed: keep taking them until then, so that the end
	// cannot be recorded in a page freed after the first exhaust.
	for time.Now().Before(active.EndsAt.Add(3 * time.Second)) {
		exhaust(t, srv)
		time.Sleep(50 * time.Millisecond)
	}
	if !srv.logged("could not be recorded; retrying") {
		t.Fatalf("the end was recorded with the disk full; the fault did not happen:\n%s", srv.logs.String())
	}
	for _, call := range ft.calls() {
		if call.Action == "deescalate" {
			t.Fatalf("revoked at %v while the end could not be recorded", call.At)
		}
	}
	freed := time.Now()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	de := ft.await("deescalate", 30*time.Second, nil)
	after := de.At.Sub(freed)
	t.Logf("revoked %s after space came back (the retry runs at least every 0.5s)", after.Round(time.Millisecond))
	// The report is retried every half second: the revoke follows within
	// about a second; 10 s is the bound for a loaded machine. A revoke left
	// to a slower path (the overdue check a minute after the end) fails.
	if after < 0 || after > 10*time.Second {
		t.Errorf("revoked %s after space came back, want within 0..10s", after)
	}
	waitStatus(t, c, req.ID, latch.StatusEnded, 30*time.Second)
}

// exhaust adds domains until the store cannot write even those (five
// failures in a row).
func exhaust(t testing.TB, srv *server) {
	t.Helper()
	failures := 0
	for i := 0; failures < 5; i++ {
		if i > 5000 {
			t.Fatal("the store still writes after 5000 domains on a full disk")
		}
		// A name new on every call, so that each is a write (an existing
		// domain is refused without one).
		body := strings.NewReader(fmt.Sprintf(`{"domain":"fill-%d-%d.example"}`, time.Now().UnixNano(), i))
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/domains", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			failures = 0
		} else {
			failures++
		}
	}
}

// fill writes to path until the file system is full.
func fill(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			break
		}
	}
	// Small writes take the last partial blocks.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
}
