package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/version"
)

// `latch version`, GET /v1/info (no token) and the User-Agent of the
// webhook calls name the same build with the same string.
func TestVersionIsOneStringEverywhere(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())

	resp, err := http.Get(srv.URL + "/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info version.Info
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || info.Version == "" || info.API != "v1" {
		t.Fatalf("GET /v1/info without a token = %d %+v; want 200 with the version and api_version v1", resp.StatusCode, info)
	}

	out, stderr, code := cli(t, srv, "version", "-o", "json")
	var cliInfo version.Info
	if code != 0 || json.Unmarshal([]byte(out), &cliInfo) != nil {
		t.Fatalf("latch version -o json: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if cliInfo != info {
		t.Errorf("latch version -o json = %+v, GET /v1/info = %+v; want the same build", cliInfo, info)
	}
	if out, _, code := cli(t, srv, "--version"); code != 0 || out != "latch "+info.Version+"\n" {
		t.Errorf("latch --version: exit %d, out %q; want %q", code, out, "latch "+info.Version+"\n")
	}
	if out, _, code := cli(t, srv, "version"); code != 0 || !strings.HasPrefix(out, "latch") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], info.Version) {
		t.Errorf("latch version: exit %d, out %q; want the version on the first line", code, out)
	}

	c := srv.client()
	ctx := context.Background()
	r, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com", Fields: map[string]any{"reason": "ua"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, r.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	call := tg.next(10 * time.Second)
	if ua := call.Header.Get("User-Agent"); ua != "latch/"+info.Version {
		t.Errorf("webhook User-Agent = %q, want %q", ua, "latch/"+info.Version)
	}
}
