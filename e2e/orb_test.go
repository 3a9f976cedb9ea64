package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"go.yaml.in/yaml/v4"
)

// The CircleCI orb's scripts are run here the way CircleCI runs an orb
// command: the command's run step is read from orb/src/commands/<name>.yml,
// its environment rendered with the parameters given (each one's default
// otherwise) and its <<include(...)>> files inlined, and the included script
// run with CircleCI's default shell, `bash -eo pipefail`, in a fresh working
// directory, with the CIRCLE_* variables of a job and a BASH_ENV file that
// lasts for the whole job, against a real latch server.

// orbSrc is the orb's source, in the layout `circleci orb pack` reads.
const orbSrc = "../orb/src"

// orbCommand is an orb command as its source file declares it.
type orbCommand struct {
	Description string                  `yaml:"description"`
	Parameters  map[string]orbParameter `yaml:"parameters"`
	Steps       []struct {
		Run *orbRunStep `yaml:"run"`
	} `yaml:"steps"`
}

// orbParameter is a parameter of an orb command or job.
type orbParameter struct {
	Type        string   `yaml:"type"`
	Default     any      `yaml:"default"`
	Description string   `yaml:"description"`
	Enum        []string `yaml:"enum"`
}

// orbRunStep is a command's run step.
type orbRunStep struct {
	Name        string            `yaml:"name"`
	When        string            `yaml:"when"`
	Environment map[string]string `yaml:"environment"`
	Command     string            `yaml:"command"`
}

var (
	orbParamRef   = regexp.MustCompile(`<<\s*parameters\.([A-Za-z0-9_-]+)\s*>>`)
	orbIncludeRef = regexp.MustCompile(`^<<include\(([^)]+)\)>>$`)
	orbParamEnv   = regexp.MustCompile(`LATCH_PARAM_[A-Z0-9_]+`)
)

// loadOrbCommand reads orb/src/commands/<name>.yml, refusing unknown keys.
func loadOrbCommand(tb testing.TB, name string) orbCommand {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(orbSrc, "commands", name+".yml"))
	if err != nil {
		tb.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c orbCommand
	if err := dec.Decode(&c); err != nil {
		tb.Fatalf("commands/%s.yml: %v", name, err)
	}
	return c
}

// orbParamValue is a parameter's value as CircleCI puts it into a string.
func orbParamValue(v any) string {
	if b, ok := v.(bool); ok {
		return fmt.Sprint(b)
	}
	return fmt.Sprint(v)
}

// render returns the run step's environment, with the parameters substituted
// and the included files inlined, and the path of the script it runs.
func (c orbCommand) render(tb testing.TB, name string, params map[string]string) (env []string, script string) {
	tb.Helper()
	for p := range params {
		if _, ok := c.Parameters[p]; !ok {
			tb.Fatalf("command %s has no parameter %q", name, p)
		}
	}
	if len(c.Steps) != 1 || c.Steps[0].Run == nil {
		tb.Fatalf("command %s: want exactly one run step", name)
	}
	run := c.Steps[0].Run
	for k, v := range run.Environment {
		if m := orbIncludeRef.FindStringSubmatch(v); m != nil {
			data, err := os.ReadFile(filepath.Join(orbSrc, m[1]))
			if err != nil {
				tb.Fatalf("command %s: %s: %v", name, k, err)
			}
			env = append(env, k+"="+string(data))
			continue
		}
		v = orbParamRef.ReplaceAllStringFunc(v, func(ref string) string {
			p := orbParamRef.FindStringSubmatch(ref)[1]
			if given, ok := params[p]; ok {
				return given
			}
			decl := c.Parameters[p]
			if decl.Default == nil {
				tb.Fatalf("command %s: parameter %s has no default and was not given", name, p)
			}
			return orbParamValue(decl.Default)
		})
		env = append(env, k+"="+v)
	}
	m := orbIncludeRef.FindStringSubmatch(run.Command)
	if m == nil {
		tb.Fatalf("command %s: the run step's command is not <<include(scripts/...)>>", name)
	}
	return env, filepath.Join(orbSrc, m[1])
}

// ciJob is one CircleCI job run: its environment, working directory and
// BASH_ENV file, shared by the steps run in it.
type ciJob struct {
	t       *testing.T
	dir     string // the working directory
	tmp     string // TMPDIR: empty again after every step
	env     []string
	secret  string // the API token, which no step may print
	idFile  string
	bashEnv string
}

// newCIJob starts a job run with the workflow job id given, against srv,
// with token in LATCH_TOKEN.
func newCIJob(t *testing.T, srv *server, token, workflowJobID string) *ciJob {
	t.Helper()
	dir := t.TempDir()
	j := &ciJob{t: t, dir: filepath.Join(dir, "project"), tmp: filepath.Join(dir, "tmp"), secret: token,
		idFile: filepath.Join(dir, "tmp-latch", "request-id")}
	for _, d := range []string{j.dir, j.tmp, filepath.Join(dir, "home")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	j.bashEnv = filepath.Join(dir, "bash-env")
	if err := os.WriteFile(j.bashEnv, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	j.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home"), "TMPDIR=" + j.tmp, "BASH_ENV=" + j.bashEnv,
		"CI=true", "CIRCLECI=true",
		"CIRCLE_WORKFLOW_JOB_ID=" + workflowJobID, "CIRCLE_WORKFLOW_ID=wf-0001", "CIRCLE_JOB=deploy-prod",
		"CIRCLE_BUILD_NUM=42", "CIRCLE_BUILD_URL=https://app.circleci.com/pipelines/gh/example/shop/7/workflows/wf-0001/jobs/42",
		"CIRCLE_PROJECT_USERNAME=example", "CIRCLE_PROJECT_REPONAME=shop", "CIRCLE_BRANCH=main",
		"CIRCLE_SHA1=0123abcd", "CIRCLE_USERNAME=bob-gh", "CIRCLE_WORKING_DIRECTORY=" + j.dir,
		"LATCH_URL=" + srv.URL, "LATCH_TOKEN=" + token,
	}
	return j
}

// ciStep is a step running in the background.
type ciStep struct {
	j    *ciJob
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// start starts the named command's step with params. Unless params say
// otherwise, the id file is under the job's own directory.
func (j *ciJob) start(command string, params map[string]string) *ciStep {
	j.t.Helper()
	c := loadOrbCommand(j.t, command)
	if _, ok := c.Parameters["request_id_file"]; ok {
		if _, given := params["request_id_file"]; !given {
			params = withParam(params, "request_id_file", j.idFile)
		}
	}
	env, script := c.render(j.t, command, params)
	abs, err := filepath.Abs(script)
	if err != nil {
		j.t.Fatal(err)
	}
	s := &ciStep{j: j, out: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command("bash", "-eo", "pipefail", abs)
	s.cmd.Dir = j.dir
	s.cmd.Env = append(slices.Clone(j.env), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		j.t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	j.t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// wait waits for the step to end and returns its output and exit code.
func (s *ciStep) wait(timeout time.Duration) (string, int) {
	s.j.t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		s.j.t.Fatalf("the step did not end within %s; output:\n%s", timeout, s.out.String())
	}
	out := s.out.String()
	code := 0
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		code = ee.ExitCode()
	} else if s.err != nil {
		s.j.t.Fatalf("run the step: %v", s.err)
	}
	if strings.Contains(out, s.j.secret) {
		s.j.t.Errorf("the step printed the API token:\n%s", out)
	}
	if left, _ := os.ReadDir(s.j.tmp); len(left) > 0 {
		s.j.t.Errorf("the step left %d files in TMPDIR, such as %s", len(left), left[0].Name())
	}
	return out, code
}

// waitFor waits until the step's output holds text while it runs.
func (s *ciStep) waitFor(text string, timeout time.Duration) {
	s.j.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.out.String(), text) {
		select {
		case <-s.done:
			s.j.t.Fatalf("the step ended before printing %q:\n%s", text, s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.j.t.Fatalf("the step did not print %q within %s:\n%s", text, timeout, s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs the named command's step to its end.
func (j *ciJob) run(command string, params map[string]string) (string, int) {
	j.t.Helper()
	return j.start(command, params).wait(time.Minute)
}

// requestID is the id the request step wrote to the id file.
func (j *ciJob) requestID() string {
	j.t.Helper()
	data, err := os.ReadFile(j.idFile)
	if err != nil {
		j.t.Fatalf("the request step wrote no id file: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// withParam returns a copy of params with k set to v.
func withParam(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for mk, mv := range m {
		out[mk] = mv
	}
	out[k] = v
	return out
}

// needOrbTools skips the test when bash, curl or jq is missing, unless
// LATCH_REQUIRE_TOOLS is set (as `make test` does), which fails it.
func needOrbTools(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("LATCH_REQUIRE_TOOLS") != "" {
				tb.Fatalf("%s is not installed and LATCH_REQUIRE_TOOLS is set; `make tools` installs it", tool)
			}
			tb.Skipf("%s is not installed; the orb's scripts need it (`make tools` installs it)", tool)
		}
	}
}

// ciToken issues a token for a "ci" bot, as a CircleCI project would hold:
// it creates requests, reads them, and revokes (which needs approve).
func ciToken(t *testing.T, srv *server) string {
	t.Helper()
	ctx := context.Background()
	admin := srv.client()
	if _, err := admin.CreateBot(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	out, err := admin.IssueToken(ctx, httpapi.TokenBody{Bot: "ci", Label: "circleci", ExpiresIn: "1d",
		Scopes: []string{"requests:read", "requests:write", "requests:approve"}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Secret
}

// An approval-only flow gates a deploy: the request is made on a person's
// behalf, wait blocks until an approver says yes, and the step passes.
func TestOrbApprovalGate(t *testing.T) {
	needOrbTools(t)
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	job := newCIJob(t, srv, ciToken(t, srv), "job-approve")
	if err := os.WriteFile(filepath.Join(job.dir, "change.json"), []byte(`{"ticket": "CHG-7", "risk": "low"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	out, code := job.run("request", map[string]string{"flow": "deploy", "on_behalf_of": "bob@example.com",
		"fields": `{"reason": "release ${CIRCLE_SHA1}"}`, "context_file": "change.json", "context": `{"risk": "medium"}`})
	if code != 0 {
		t.Fatalf("request: exit %d:\n%s", code, out)
	}
	id := job.requestID()
	req, err := c.GetRequest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if req.Status != latch.StatusPending || req.Requester.Email != "bob@example.com" ||
		req.CreatedBy != (latch.Actor{Email: "bob@example.com", Bot: "ci"}) || req.Fields["reason"] != "release 0123abcd" {
		t.Errorf("request = %s for %s by %+v with fields %v; want pending for bob through the ci bot, the commit in the reason",
			req.Status, req.Requester.Email, req.CreatedBy, req.Fields)
	}
	wantContext := map[string]any{"ticket": "CHG-7", "risk": "medium", "circleci": map[string]any{
		"project": "example/shop", "job": "deploy-prod", "build_url": "https://app.circleci.com/pipelines/gh/example/shop/7/workflows/wf-0001/jobs/42",
		"workflow_id": "wf-0001", "workflow_job_id": "job-approve", "branch": "main", "sha": "0123abcd", "username": "bob-gh"}}
	if diff := cmp.Diff(wantContext, req.Context); diff != "" {
		t.Errorf("context: CircleCI's, then the file, then the parameter (-want +got):\n%s", diff)
	}
	bashEnv, err := os.ReadFile(job.bashEnv)
	if err != nil {
		t.Fatal(err)
	}
	if want := "export LATCH_REQUEST_ID=" + id + "\n"; string(bashEnv) != want {
		t.Errorf("BASH_ENV = %q, want %q", bashEnv, want)
	}

	wait := job.start("wait", map[string]string{"timeout": "1m"})
	wait.waitFor("Waiting up to 1m00s for Latch request "+id, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the step is in a long poll now
	if _, err := c.Act(ctx, id, "approve", httpapi.ActionBody{As: "alice@example.com", Reason: "ship it"}); err != nil {
		t.Fatal(err)
	}
	out, code = wait.wait(30 * time.Second)
	if code != 0 || !strings.Contains(out, "approved by alice@example.com (ship it)") {
		t.Errorf("wait after the approval: exit %d, want 0 naming the approver:\n%s", code, out)
	}

	// At the end of the job there is nothing to give back.
	if out, code := job.run("revoke", nil); code != 0 || !strings.Contains(out, "Nothing to revoke") {
		t.Errorf("revoke of an approval: exit %d, want 0 and nothing to revoke:\n%s", code, out)
	}
}

// A denial fails the wait step with the approver's reason. The step finds
// the request through BASH_ENV when there is no id file.
func TestOrbDenial(t *testing.T) {
	needOrbTools(t)
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	c := srv.client()
	job := newCIJob(t, srv, ciToken(t, srv), "job-deny")

	if out, code := job.run("request", map[string]string{"flow": "deploy", "on_behalf_of": "bob@example.com",
		"fields": `{"reason": "release 8"}`}); code != 0 {
		t.Fatalf("request: exit %d:\n%s", code, out)
	}
	id := job.requestID()
	if err := os.Remove(job.idFile); err != nil {
		t.Fatal(err)
	}
	wait := job.start("wait", nil)
	wait.waitFor("Latch request "+id, 10*time.Second)
	if _, err := c.Act(context.Background(), id, "deny", httpapi.ActionBody{As: "alice@example.com", Reason: "not during the freeze"}); err != nil {
		t.Fatal(err)
	}
	out, code := wait.wait(30 * time.Second)
	if code != 1 || !strings.Contains(out, "denied by alice@example.com: not during the freeze") {
		t.Errorf("wait after a denial: exit %d, want 1 with the approver and reason:\n%s", code, out)
	}
}

// A retried request step answers with the request the first try made: with
// an explicit idempotency key, and with the default one for the job run.
func TestOrbIdempotentRequest(t *testing.T) {
	needOrbTools(t)
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	token := ciToken(t, srv)
	params := map[string]string{"flow": "deploy", "on_behalf_of": "bob@example.com", "fields": `{"reason": "release 9"}`}

	runTwice := func(job *ciJob, params map[string]string) (first, second string) {
		t.Helper()
		ids := make([]string, 2)
		for i := range ids {
			out, code := job.run("request", params)
			if code != 0 {
				t.Fatalf("request %d: exit %d:\n%s", i+1, code, out)
			}
			ids[i] = job.requestID()
			if i == 1 && !strings.Contains(out, "already existed for this idempotency key") {
				t.Errorf("the second request step does not say it reused the request:\n%s", out)
			}
		}
		return ids[0], ids[1]
	}

	keyed := withParam(params, "idempotency_key", "release-9-${CIRCLE_BRANCH}")
	a, b := runTwice(newCIJob(t, srv, token, "job-a"), keyed)
	if a != b {
		t.Errorf("the same idempotency key made requests %s and %s, want one", a, b)
	}
	if c, _ := runTwice(newCIJob(t, srv, token, "job-b"), keyed); c != a {
		t.Errorf("the same key from another job made %s, want %s", c, a)
	}

	d, e := runTwice(newCIJob(t, srv, token, "job-c"), params)
	if d != e {
		t.Errorf("a retried step in one job run made requests %s and %s, want one", d, e)
	}
	if f, _ := runTwice(newCIJob(t, srv, token, "job-d"), params); f == d || f == a {
		t.Errorf("another job run got request %s again, want a new one", f)
	}
	rs, err := srv.client().ListRequests(context.Background(), latch.RequestFilter{})
	if err != nil || len(rs) != 3 {
		t.Errorf("requests = %d (%v), want 3: keyed, job-c's and job-d's", len(rs), err)
	}
}

// Temporary access through the webhook strategy: wait until it is active,
// then revoke gives it back and waits until the target took it away.
func TestOrbAccessFlow(t *testing.T) {
	needOrbTools(t)
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()
	job := newCIJob(t, srv, ciToken(t, srv), "job-access")

	if out, code := job.run("request", map[string]string{"flow": "prod-access", "on_behalf_of": "bob@example.com",
		"fields": `{"reason": "schema migration", "duration": "30m"}`}); code != 0 {
		t.Fatalf("request: exit %d:\n%s", code, out)
	}
	id := job.requestID()
	wait := job.start("wait", map[string]string{"timeout": "1m"})
	wait.waitFor("Latch request "+id, 10*time.Second)
	if _, err := c.Act(ctx, id, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	if esc := tg.next(10 * time.Second); esc.Action != "escalate" {
		t.Fatalf("target call = %s, want escalate", esc.Action)
	}
	out, code := wait.wait(30 * time.Second)
	if code != 0 || !strings.Contains(out, "is active: bob@example.com has the access to prod-db until ") {
		t.Fatalf("wait: exit %d, want 0 once the access is active:\n%s", code, out)
	}

	out, code = job.run("revoke", nil)
	if code != 0 || !strings.Contains(out, "Access under request "+id+" has ended") {
		t.Errorf("revoke: exit %d, want 0 once the access has ended:\n%s", code, out)
	}
	if de := tg.next(10 * time.Second); de.Action != "deescalate" {
		t.Errorf("target call = %s, want deescalate", de.Action)
	}
	r, err := c.GetRequest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != latch.StatusEnded || r.Decision == nil || r.Decision.By.Email != "bob@example.com" ||
		r.Decision.Reason != "The CircleCI job is done with it (deploy-prod #42, https://app.circleci.com/pipelines/gh/example/shop/7/workflows/wf-0001/jobs/42)." {
		t.Errorf("after revoke: %s, decision %+v; want ended, revoked by the requester naming the job", r.Status, r.Decision)
	}
	want := []latch.AuditType{latch.AuditRequested, latch.AuditApproved, latch.AuditEscalated, latch.AuditReleased, latch.AuditDeescalated}
	if diff := cmp.Diff(want, auditTypes(t, c, id)); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}

	// Run again (a step retried), revoke has nothing left to do.
	if out, code := job.run("revoke", nil); code != 0 || !strings.Contains(out, "Nothing to revoke") {
		t.Errorf("second revoke: exit %d, want 0 with nothing to revoke:\n%s", code, out)
	}
	tg.none(100 * time.Millisecond)
}

// A request nobody decides on fails the wait at its timeout and is
// withdrawn, so that nobody approves it for a job that stopped waiting.
func TestOrbWaitTimeout(t *testing.T) {
	needOrbTools(t)
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	job := newCIJob(t, srv, ciToken(t, srv), "job-timeout")
	if out, code := job.run("request", map[string]string{"flow": "deploy", "on_behalf_of": "bob@example.com",
		"fields": `{"reason": "release 10"}`}); code != 0 {
		t.Fatalf("request: exit %d:\n%s", code, out)
	}
	id := job.requestID()
	out, code := job.run("wait", map[string]string{"timeout": "2s"})
	if code != 1 || !strings.Contains(out, "Gave up after 2s: request "+id+" is still pending") {
		t.Errorf("wait: exit %d, want 1 saying it gave up:\n%s", code, out)
	}
	r := waitStatus(t, srv.client(), id, latch.StatusCancelled, 5*time.Second)
	if r.Decision == nil || r.Decision.By.Email != "bob@example.com" || !strings.Contains(r.Decision.Reason, "stopped waiting") {
		t.Errorf("cancellation = %+v, want by the requester, saying the job stopped waiting", r.Decision)
	}
}

// A 429 is waited out as its Retry-After says, and the step goes on.
func TestOrbHonoursRetryAfter(t *testing.T) {
	needOrbTools(t)
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir(), "--rate-limit", "0.2")
	token := ciToken(t, srv)
	// In front of the server, a proxy spends the token's burst (1 call,
	// refilled after 5 seconds) just before it passes on the step's first
	// create, so that Latch itself refuses that create however slowly the
	// machine starts the step.
	ci := client.New(srv.URL, token)
	ci.Retry = client.NoRetry // see the 429 rather than wait it out
	var spent atomic.Bool
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/requests" && !spent.Swap(true) {
			for i := 0; ; i++ {
				_, err := ci.ListRequests(r.Context(), latch.RequestFilter{})
				if latch.ErrorCodeOf(err) == "rate_limited" {
					break
				}
				if err != nil || i == 10 {
					t.Errorf("call %d with the token: %v, want rate_limited within the burst", i+1, err)
					break
				}
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	busy := *srv
	busy.URL = front.URL
	job := newCIJob(t, &busy, token, "job-busy")
	out, code := job.run("request", map[string]string{"flow": "deploy", "on_behalf_of": "bob@example.com", "fields": `{"reason": "release 11"}`})
	if code != 0 || !regexp.MustCompile(`Too many calls with this token \(429\); trying again in [1-5]s, as Retry-After asks\.`).MatchString(out) {
		t.Fatalf("request after the burst: exit %d, want 0 after waiting out the 429:\n%s", code, out)
	}
	if _, err := srv.client().GetRequest(context.Background(), job.requestID()); err != nil {
		t.Errorf("the request the step made: %v", err)
	}
}

// Mistakes in the parameters or the job's environment fail the step with
// exit 2 and a message naming the fix; a refusal from Latch exits 1 with the
// API's message and code. No step prints the token.
func TestOrbErrors(t *testing.T) {
	needOrbTools(t)
	srv := startServer(t, writeFlows(t, map[string]string{"deploy.yaml": approvalOnlyFlow}), t.TempDir())
	token := ciToken(t, srv)
	base := map[string]string{"flow": "deploy", "on_behalf_of": "bob@example.com", "fields": `{"reason": "x"}`}
	tests := []struct {
		name     string
		command  string
		give     map[string]string
		env      []string
		wantCode int
		wantOut  string
	}{
		{"no token", "request", base, []string{"LATCH_TOKEN="}, 2,
			"The environment variable LATCH_TOKEN is empty or unset"},
		{"the token itself as the token parameter", "request", withParam(base, "token", token), nil, 2,
			"must be the name of the environment variable"},
		{"no API URL", "request", base, []string{"LATCH_URL="}, 2, "The API URL is empty"},
		{"fields not JSON", "request", withParam(base, "fields", `{"reason": `), nil, 2, "fields must be a JSON object"},
		{"fields not an object", "request", withParam(base, "fields", `["x"]`), nil, 2, "it is a JSON array, not an object"},
		{"the token into a field", "request", withParam(base, "fields", `{"reason": "$LATCH_TOKEN"}`), nil, 2,
			"refusing to expand $LATCH_TOKEN"},
		{"a missing context file", "request", withParam(base, "context_file", "nope.json"), nil, 2, "The context file nope.json does not exist"},
		{"no job id for the default key", "request", base, []string{"CIRCLE_WORKFLOW_JOB_ID="}, 2, "set the idempotency_key parameter"},
		{"unknown flow", "request", withParam(base, "flow", "nope"), nil, 1,
			`There is no flow "nope" (known flows: deploy). (HTTP 404, flow_not_found)`},
		{"a missing required field", "request", withParam(base, "fields", "{}"), nil, 1, "invalid_fields"},
		{"wait without a request", "wait", nil, nil, 2, "There is no request to wait for"},
		{"wait with a bad timeout", "wait", map[string]string{"request_id": "req_x", "timeout": "soon"}, nil, 2,
			`The timeout "soon" is not a duration`},
		{"wait for an unknown request", "wait", map[string]string{"request_id": "req_nope"}, nil, 1,
			`There is no request "req_nope". (HTTP 404, request_not_found)`},
		{"revoke without a request", "revoke", nil, nil, 0, "No Latch request to revoke"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := newCIJob(t, srv, token, fmt.Sprintf("job-err-%d", i))
			job.env = append(job.env, tt.env...)
			out, code := job.run(tt.command, tt.give)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tt.wantCode, tt.wantOut, out)
			}
		})
	}
}

// The orb's source is what `circleci orb pack` expects: every file is YAML;
// commands run included scripts that exist and pass each parameter as a
// LATCH_PARAM_ variable the scripts read; jobs and examples use commands,
// jobs, executors and parameters the orb declares.
func TestOrbSource(t *testing.T) {
	var orb struct {
		Version     float64 `yaml:"version"`
		Description string  `yaml:"description"`
	}
	readOrbYAML(t, filepath.Join(orbSrc, "@orb.yml"), &orb)
	if orb.Version != 2.1 || orb.Description == "" {
		t.Errorf("@orb.yml: version %v, description %q; want 2.1 and a description", orb.Version, orb.Description)
	}
	lib, err := os.ReadFile(filepath.Join(orbSrc, "scripts", "lib.sh"))
	if err != nil {
		t.Fatal(err)
	}

	decls := map[string]map[string]orbParameter{} // "command x", "job x" → parameters
	commands := orbNames(t, "commands")
	if len(commands) == 0 {
		t.Fatal("the orb has no commands")
	}
	for _, name := range commands {
		c := loadOrbCommand(t, name)
		decls["command "+name] = c.Parameters
		checkOrbParams(t, "commands/"+name+".yml", c.Description, c.Parameters)
		if len(c.Steps) == 0 {
			t.Errorf("commands/%s.yml has no steps", name)
		}
		for _, st := range c.Steps {
			if st.Run == nil {
				t.Errorf("commands/%s.yml: a step is not a run step", name)
				continue
			}
			used := map[string]bool{}
			var envParams []string
			for k, v := range st.Run.Environment {
				if m := orbIncludeRef.FindStringSubmatch(v); m != nil {
					if _, err := os.Stat(filepath.Join(orbSrc, m[1])); err != nil {
						t.Errorf("commands/%s.yml: %s includes %s, which does not exist", name, k, m[1])
					}
					continue
				}
				if strings.HasPrefix(k, "LATCH_PARAM_") {
					envParams = append(envParams, k)
				}
				for _, m := range orbParamRef.FindAllStringSubmatch(v, -1) {
					used[m[1]] = true
				}
			}
			for _, m := range orbParamRef.FindAllStringSubmatch(st.Run.Name+" "+st.Run.When, -1) {
				used[m[1]] = true
			}
			for p := range used {
				if _, ok := c.Parameters[p]; !ok {
					t.Errorf("commands/%s.yml uses parameter %s, which it does not declare", name, p)
				}
			}
			for p := range c.Parameters {
				if !used[p] {
					t.Errorf("commands/%s.yml declares parameter %s but does not pass it to its step", name, p)
				}
			}
			m := orbIncludeRef.FindStringSubmatch(st.Run.Command)
			if m == nil {
				t.Errorf("commands/%s.yml: the command is not <<include(scripts/...)>>", name)
				continue
			}
			script, err := os.ReadFile(filepath.Join(orbSrc, m[1]))
			if err != nil {
				t.Errorf("commands/%s.yml includes %s: %v", name, m[1], err)
				continue
			}
			for _, v := range orbParamEnv.FindAllString(string(script), -1) {
				if !slices.Contains(envParams, v) {
					t.Errorf("%s reads %s, which commands/%s.yml does not set", m[1], v, name)
				}
			}
			for _, v := range envParams {
				if !bytes.Contains(script, []byte(v)) && !bytes.Contains(lib, []byte(v)) {
					t.Errorf("commands/%s.yml sets %s, which neither %s nor lib.sh reads", name, v, m[1])
				}
			}
		}
	}

	scripts, err := filepath.Glob(filepath.Join(orbSrc, "scripts", "*.sh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range scripts {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("<<")) {
			t.Errorf("%s holds <<, which CircleCI would read as a parameter reference", path)
		}
		if filepath.Base(path) != "lib.sh" && !bytes.Contains(data, []byte("\nset -euo pipefail\n")) {
			t.Errorf("%s does not set -euo pipefail", path)
		}
		if bash, err := exec.LookPath("bash"); err == nil {
			if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %v\n%s", path, err, out)
			}
		}
	}

	executors := orbNames(t, "executors")
	jobs := orbNames(t, "jobs")
	for _, name := range jobs {
		var job struct {
			Description string                  `yaml:"description"`
			Executor    string                  `yaml:"executor"`
			Parameters  map[string]orbParameter `yaml:"parameters"`
			Steps       []any                   `yaml:"steps"`
		}
		path := filepath.Join(orbSrc, "jobs", name+".yml")
		readOrbYAML(t, path, &job)
		decls["job "+name] = job.Parameters
		checkOrbParams(t, "jobs/"+name+".yml", job.Description, job.Parameters)
		raw, _ := os.ReadFile(path)
		for _, m := range orbParamRef.FindAllStringSubmatch(string(raw), -1) {
			if _, ok := job.Parameters[m[1]]; !ok {
				t.Errorf("jobs/%s.yml uses parameter %s, which it does not declare", name, m[1])
			}
		}
		checkOrbSteps(t, "jobs/"+name+".yml", job.Steps, "", decls)
	}

	examples := orbNames(t, "examples")
	if len(examples) == 0 {
		t.Error("the orb has no examples")
	}
	for _, name := range examples {
		var ex struct {
			Description string         `yaml:"description"`
			Usage       map[string]any `yaml:"usage"`
		}
		readOrbYAML(t, filepath.Join(orbSrc, "examples", name+".yml"), &ex)
		if ex.Description == "" || ex.Usage["version"] != 2.1 {
			t.Errorf("examples/%s.yml: want a description and a usage of version 2.1", name)
		}
		checkOrbConfig(t, "examples/"+name+".yml", ex.Usage, decls, executors)
	}

	// The configs shown in the documentation use the orb as it is.
	for _, doc := range []string{"../docs/orb.md", "../orb/README.md"} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
		for i, b := range blocks {
			if !strings.Contains(b[1], "latch/") {
				continue
			}
			var cfg map[string]any
			if err := yaml.Unmarshal([]byte(b[1]), &cfg); err != nil {
				t.Errorf("%s: YAML block %d: %v", doc, i+1, err)
				continue
			}
			checkOrbConfig(t, fmt.Sprintf("%s block %d", doc, i+1), cfg, decls, executors)
		}
	}
}

// orbNames lists the orb's files of a kind (commands, jobs, ...) by name.
func orbNames(tb testing.TB, kind string) []string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(orbSrc, kind, "*.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		out = append(out, strings.TrimSuffix(filepath.Base(p), ".yml"))
	}
	return out
}

func readOrbYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		tb.Errorf("%s: %v", path, err)
	}
}

// checkOrbParams checks that a command or job and each of its parameters say
// what they are.
func checkOrbParams(tb testing.TB, where, description string, params map[string]orbParameter) {
	tb.Helper()
	if strings.TrimSpace(description) == "" {
		tb.Errorf("%s has no description", where)
	}
	for name, p := range params {
		if !slices.Contains([]string{"string", "boolean", "integer", "enum", "executor", "steps", "env_var_name"}, p.Type) {
			tb.Errorf("%s: parameter %s has type %q, which CircleCI does not know", where, name, p.Type)
		}
		if strings.TrimSpace(p.Description) == "" {
			tb.Errorf("%s: parameter %s has no description", where, name)
		}
		if p.Type == "enum" && (len(p.Enum) == 0 || p.Default != nil && !slices.Contains(p.Enum, fmt.Sprint(p.Default))) {
			tb.Errorf("%s: enum parameter %s: values %v, default %v", where, name, p.Enum, p.Default)
		}
	}
}

// orbJobInvocationKeys are the keys a workflow may give any job besides its
// parameters.
var orbJobInvocationKeys = []string{"name", "context", "requires", "filters", "matrix", "type", "pre-steps", "post-steps", "serial-group"}

// checkOrbSteps checks steps that call the orb's commands: inside the orb they
// are named bare, in a config with the prefix.
func checkOrbSteps(tb testing.TB, where string, steps []any, prefix string, decls map[string]map[string]orbParameter) {
	tb.Helper()
	for _, s := range steps {
		m, ok := s.(map[string]any)
		if !ok {
			continue // a bare built-in step such as checkout
		}
		for key, v := range m {
			if key == "when" || key == "unless" {
				if inner, ok := v.(map[string]any); ok {
					if steps, ok := inner["steps"].([]any); ok {
						checkOrbSteps(tb, where, steps, prefix, decls)
					}
				}
				continue
			}
			name, ok := strings.CutPrefix(key, prefix)
			if !ok || (prefix == "" && slices.Contains([]string{"run", "checkout", "persist_to_workspace", "attach_workspace",
				"save_cache", "restore_cache", "store_artifacts", "store_test_results", "setup_remote_docker", "add_ssh_keys"}, key)) {
				continue
			}
			params, ok := decls["command "+name]
			if !ok {
				tb.Errorf("%s: step %s is not one of the orb's commands", where, key)
				continue
			}
			args, _ := v.(map[string]any)
			for a := range args {
				if _, ok := params[a]; !ok {
					tb.Errorf("%s: step %s passes %s, which the command does not declare", where, key, a)
				}
			}
			for p, d := range params {
				if _, given := args[p]; !given && d.Default == nil {
					tb.Errorf("%s: step %s lacks the required parameter %s", where, key, p)
				}
			}
		}
	}
}

// checkOrbConfig checks a CircleCI config that uses the orb as latch/...: its
// jobs' steps, the orb's jobs in its workflows, and the executors it names.
func checkOrbConfig(tb testing.TB, where string, cfg map[string]any, decls map[string]map[string]orbParameter, executors []string) {
	tb.Helper()
	orbs, _ := cfg["orbs"].(map[string]any)
	if _, ok := orbs["latch"]; !ok {
		tb.Errorf("%s does not import the orb as latch", where)
	}
	jobs, _ := cfg["jobs"].(map[string]any)
	for name, j := range jobs {
		job, _ := j.(map[string]any)
		if e, ok := job["executor"].(string); ok {
			if n, ok := strings.CutPrefix(e, "latch/"); ok && !slices.Contains(executors, n) {
				tb.Errorf("%s: job %s uses executor %s, which the orb does not have", where, name, e)
			}
		}
		steps, _ := job["steps"].([]any)
		checkOrbSteps(tb, where+": job "+name, steps, "latch/", decls)
	}
	workflows, _ := cfg["workflows"].(map[string]any)
	for wname, w := range workflows {
		wf, _ := w.(map[string]any)
		list, _ := wf["jobs"].([]any)
		for _, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			for key, v := range m {
				name, ok := strings.CutPrefix(key, "latch/")
				if !ok {
					continue
				}
				params, ok := decls["job "+name]
				if !ok {
					tb.Errorf("%s: workflow %s runs %s, which is not one of the orb's jobs", where, wname, key)
					continue
				}
				args, _ := v.(map[string]any)
				for a := range args {
					if _, ok := params[a]; !ok && !slices.Contains(orbJobInvocationKeys, a) {
						tb.Errorf("%s: workflow %s passes %s to %s, which the job does not declare", where, wname, a, key)
					}
				}
				for p, d := range params {
					if _, given := args[p]; !given && d.Default == nil {
						tb.Errorf("%s: workflow %s does not give %s its required parameter %s", where, wname, key, p)
					}
				}
			}
		}
	}
}
