package slackapp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/latchhq/latch/pkg/outbound/outboundtest"
	"github.com/latchhq/latch/pkg/slackapp"
)

// A Client given no HTTP client keeps its connections to Slack alive: 200
// chat.postMessage calls one after another and 50 at once open a few
// connections (outbound.ConnsPerHost at once), never one per call (which
// left thousands of sockets in TIME_WAIT).
func TestClientReusesConnections(t *testing.T) {
	srv := outboundtest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat.postMessage" || r.ParseForm() != nil || r.Form.Get("channel") == "" {
			http.Error(w, "unexpected call", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"ok":true,"channel":"C0123456789","ts":"1795608000.000100","message":{"type":"message","text":"hi"}}`)
	}))
	c := &slackapp.Client{BaseURL: srv.URL + "/api/", Token: "xoxb-test"}
	outboundtest.Calls(t, 200, 50, func(i int) error {
		ts, err := c.PostMessage(context.Background(), "C0123456789", fmt.Sprintf("message %d", i), nil)
		if err == nil && ts.TS != "1795608000.000100" {
			err = fmt.Errorf("posted at %+v", ts)
		}
		return err
	})
	if n := srv.Conns(); n < 1 || n > outboundtest.MaxConns {
		t.Errorf("the fake Slack accepted %d connections for 250 calls, want 1 to %d", n, outboundtest.MaxConns)
	}
	t.Logf("%d connections for 250 calls", srv.Conns())
}
