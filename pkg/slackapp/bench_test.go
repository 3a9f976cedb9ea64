package slackapp_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/slackapp"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// cannedSlack answers every Web API call from memory, so that benchmarks
// measure Latch and not the network: auth.test, users.info with ann,
// views.open, anything else ok.
type cannedSlack struct{}

func (cannedSlack) RoundTrip(r *http.Request) (*http.Response, error) {
	body := `{"ok":true}`
	switch {
	case strings.HasSuffix(r.URL.Path, "/users.info"):
		body = `{"ok":true,"user":{"id":"U0ANN","team_id":"` + slacktest.Team + `","name":"ann","real_name":"Ann","profile":{"email":"ann@example.com"}}}`
	case strings.HasSuffix(r.URL.Path, "/auth.test"):
		body = `{"ok":true,"team_id":"` + slacktest.Team + `","user_id":"U0LATCHBOT"}`
	case strings.HasSuffix(r.URL.Path, "/views.open"):
		body = `{"ok":true,"view":{"id":"V1"}}`
	}
	_ = r.Body.Close()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

// benchCommand runs a signed slash command through the handler b.N times.
func benchCommand(b *testing.B, text string, wantEmpty bool) {
	r := newRig(b)
	r.app.Slack = &slackapp.Client{BaseURL: "http://slack.invalid/api/", Token: slacktest.Token, HTTP: &http.Client{Transport: cannedSlack{}}}
	h := r.app.Handler()
	body := slacktest.Command(slacktest.Team, annID, text)
	ts, sig := slacktest.Sign(signingSecret, time.Now(), body)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/slack/commands", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(slackapp.HeaderTimestamp, ts)
		req.Header.Set(slackapp.HeaderSignature, sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || (w.Body.Len() == 0) != wantEmpty {
			b.Fatalf("answer %d %q", w.Code, w.Body)
		}
	}
}

// BenchmarkSlashCommandHelp is a signed /latch help: verify, parse, answer.
func BenchmarkSlashCommandHelp(b *testing.B) { benchCommand(b, "help", false) }

// BenchmarkSlashCommandOpenForm is a signed /latch req prod-access: verify,
// parse, find the person (cached after the first call), build the form and
// call views.open (answered from memory).
func BenchmarkSlashCommandOpenForm(b *testing.B) { benchCommand(b, "req prod-access", true) }
