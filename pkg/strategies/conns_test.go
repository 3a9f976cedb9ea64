package strategies_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound/outboundtest"
	"github.com/latchhq/latch/pkg/strategies"
)

// The webhook escalators Escalators builds with no client of its own share
// one that keeps connections alive: 200 grants and revokes one after
// another and 50 at once open a few connections to
// the target, never one per call.
func TestWebhookEscalatorsReuseConnections(t *testing.T) {
	srv := outboundtest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	esc := &strategies.Escalators{LookupEnv: func(name string) (string, bool) { return "s3cret", name == "HOOK_SECRET" }}
	var escs []latch.Escalator
	for _, name := range []string{"a", "b"} { // two flows, one target host
		f, err := flows.Parse(name+".yaml", []byte(strings.NewReplacer("name: f", "name: "+name, "http://127.0.0.1:9/hook", srv.URL+"/"+name).Replace(flow)), strategies.FlowOptions())
		if err != nil {
			t.Fatal(err)
		}
		e, err := esc.For(f)
		if err != nil {
			t.Fatal(err)
		}
		escs = append(escs, e)
	}
	outboundtest.Calls(t, 200, 50, func(i int) error {
		spec := latch.GrantSpec{GrantID: fmt.Sprintf("grt_%d", i), User: latch.SpecUser{Email: "ada@example.com", Identity: "ada"},
			Target: latch.Target{ID: "t"}, Request: latch.SpecRequest{ID: fmt.Sprintf("req_%d", i), Flow: "f"}}
		if i%2 == 0 {
			return escs[i%4/2].Grant(context.Background(), spec)
		}
		return escs[i%4/2].Revoke(context.Background(), spec)
	})
	if n := srv.Conns(); n < 1 || n > outboundtest.MaxConns {
		t.Errorf("the webhook target accepted %d connections for 250 calls, want 1 to %d", n, outboundtest.MaxConns)
	}
	t.Logf("%d connections for 250 calls", srv.Conns())
}
