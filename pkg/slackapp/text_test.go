package slackapp

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp/blockkit"
)

func TestClipMrkdwnKeepsTokensWhole(t *testing.T) {
	tests := []struct {
		name string
		give string
		n    int
		more string
		want string
	}{
		{name: "short enough", give: "a <@U0ANN> b", n: 20, want: "a <@U0ANN> b"},
		{name: "cut before a mention", give: "ab <@U0ANN1234> tail", n: 8, want: "ab…"},
		{name: "cut before an escaped character", give: "abcd &lt; tail", n: 7, want: "abcd…"},
		{name: "cut before a link", give: "x <https://e.example/a?b=1&c=2|label> y", n: 20, want: "x…"},
		{name: "with a pointer", give: strings.Repeat("é", 50), n: 20, more: " (see X)", want: strings.Repeat("é", 11) + "… (see X)"},
		{name: "no room for the pointer", give: strings.Repeat("a", 10), n: 5, more: " (a long pointer)", want: "aaaa…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clipMrkdwn(tt.give, tt.n, tt.more)
			if got != tt.want {
				t.Errorf("clipMrkdwn(%q, %d) = %q, want %q", tt.give, tt.n, got, tt.want)
			}
			if utf8.RuneCountInString(got) > tt.n {
				t.Errorf("%d characters, more than %d", utf8.RuneCountInString(got), tt.n)
			}
		})
	}
}

func TestMentionAndLink(t *testing.T) {
	if got := mention("U0ANN"); got != "<@U0ANN>" {
		t.Errorf("mention(U0ANN) = %q", got)
	}
	if got := mention("<!channel>"); got != "&lt;!channel&gt;" {
		t.Errorf("mention of a non-id = %q, want it escaped", got)
	}
	if got := link("https://h.example/x", "<b> & c"); got != "<https://h.example/x|&lt;b&gt; &amp; c>" {
		t.Errorf("link = %q", got)
	}
	if got := link("javascript:alert(1)", "x"); got != "x" {
		t.Errorf("link of another scheme = %q, want the label alone", got)
	}
	if got := link("https://h.example/a|b", "x"); got != "x" {
		t.Errorf("link holding | = %q, want the label alone", got)
	}
}

// latchTokens are the <...> tokens Latch itself writes: mentions of Slack
// user ids, dates and links.
var latchTokens = regexp.MustCompile(`<@[UW][A-Z0-9]{2,20}>|<!date\^\d+\^\{date_short_pretty\} at \{time\}\|[^<>|]*>|<https?://[^<>| ]+\|[^<>|]*>`)

// checkMrkdwn fails when a mrkdwn text holds < or > that Latch did not
// write as a mention, date or link.
func checkMrkdwn(t *testing.T, where, s string) {
	t.Helper()
	if rest := latchTokens.ReplaceAllString(s, ""); strings.ContainsAny(rest, "<>") {
		t.Errorf("%s holds an unescaped < or >: %q", where, s)
	}
}

// walkMrkdwn calls f with every mrkdwn text in v (JSON as decoded).
func walkMrkdwn(v any, f func(string)) {
	switch x := v.(type) {
	case map[string]any:
		if x["type"] == "mrkdwn" {
			if s, ok := x["text"].(string); ok {
				f(s)
			}
		}
		for _, y := range x {
			walkMrkdwn(y, f)
		}
	case []any:
		for _, y := range x {
			walkMrkdwn(y, f)
		}
	}
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// noUsers is a store that knows nobody: who() then names people by email.
type noUsers struct{ latch.Store }

func (noUsers) GetUser(context.Context, string) (latch.User, error) {
	return latch.User{}, latch.Errorf(latch.KindNotFound, "not_found", "no user")
}

// FuzzTextBuilders feeds one arbitrary string to every place outside text
// enters Latch's views and messages, and checks that what comes out is
// within Slack's limits (the fake Slack's validation) and holds no < or >
// but Latch's own mentions, dates and links.
func FuzzTextBuilders(f *testing.F) {
	f.Add("<!channel> <https://evil.example|Approve here>")
	f.Add(strings.Repeat("&<>", 1500))
	f.Add(strings.Repeat("é", 5000))
	f.Add("")
	f.Add("\xff\xfe<")
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range []int{1, 2, 24, 75, 150, 3000} {
			out := clipMrkdwn(escape(s), n, " (see `latch get x`)")
			if utf8.RuneCountInString(out) > n {
				t.Fatalf("clipMrkdwn to %d gave %d characters", n, utf8.RuneCountInString(out))
			}
			checkMrkdwn(t, "clipMrkdwn", out)
			if p := clipPlain(s, n); utf8.RuneCountInString(p) > n {
				t.Fatalf("clipPlain to %d gave %d characters", n, utf8.RuneCountInString(p))
			}
		}
		many := make([]any, 120)
		for i := range many {
			many[i] = s + strings.Repeat("x", i)
		}
		fl := &latch.Flow{Name: "f", Label: s, AllowRevoke: true,
			Fields: []latch.Field{
				{Name: "why", Label: s, Type: latch.FieldString, Default: s},
				{Name: "pick", Label: s, Type: latch.FieldString, AllowedValues: []any{s, s + "y"}, Default: s},
				{Name: "many", Label: s, Type: latch.FieldString, AllowedValues: many},
				{Name: "list", Label: s, Type: latch.FieldStrings, Default: []string{s, s}},
				{Name: "box", Label: s, Type: latch.FieldBool},
				{Name: "who", Label: s, Type: latch.FieldSlackUsers},
			},
			Strategy: &latch.Strategy{Type: "webhook", Targets: []latch.Target{{ID: s + "1", Label: s}, {ID: s + "2", Label: s}}}}
		views := map[string]view{
			"picker":    pickerView([]*latch.Flow{fl, {Name: "g", Label: s}}, escape(s)),
			"form":      requestView(fl, nil),
			"submitted": submittedView(fl, s, s),
			"message":   messageView("c", s, escape(s)),
		}
		for name, v := range views {
			decoded := roundTrip(t, v).(map[string]any)
			if p := blockkit.ValidateView(decoded); len(p) > 0 {
				t.Errorf("%s view would be refused: %v", name, p)
			}
			walkMrkdwn(decoded, func(m string) { checkMrkdwn(t, name, m) })
		}

		a := &App{Store: noUsers{}}
		a.init()
		now := time.Unix(1_700_000_000, 0)
		dec := &latch.Decision{By: latch.Actor{Email: s, Bot: s}, Reason: s, At: now}
		for _, st := range []latch.Status{latch.StatusPending, latch.StatusActive, latch.StatusDenied, latch.StatusEnded, latch.StatusFailed} {
			r := latch.Request{ID: "req_1", Flow: "f", Status: st, Requester: latch.UserRef{Email: s}, Source: latch.Source(s),
				CreatedBy: latch.Actor{Bot: s}, TargetID: s + "1", Duration: 3600, ExpiresAt: &now, EndsAt: &now,
				Fields:    map[string]any{"why": s, "pick": s, "list": []string{s, s}, "box": true, "who": []string{"U0ANN", s}},
				Approvals: []latch.Decision{*dec, *dec}, Decision: dec,
				Failure: &latch.Failure{Code: s, Message: s, Stage: latch.StageEscalate}}
			text, blocks := a.render(context.Background(), fl, r)
			mt, mb := a.minimalMessage(context.Background(), fl, r)
			for name, m := range map[string][2]any{"message": {text, blocks}, "minimal message": {mt, mb}} {
				decoded := roundTrip(t, m[1])
				if p := blockkit.ValidateMessage(m[0].(string), decoded); len(p) > 0 {
					t.Errorf("%s (%s) would be refused: %v", name, st, p)
				}
				checkMrkdwn(t, name+" text", m[0].(string))
				walkMrkdwn(decoded, func(m string) { checkMrkdwn(t, name, m) })
			}
		}
	})
}

// An approved scheduled request that expired because its whole window
// passed (Latch was down at its start) is not told as "nobody decided".
func TestExpiredScheduledWindowIsToldAsSuch(t *testing.T) {
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	f := &latch.Flow{Name: "prod-db"}
	cases := []struct {
		name    string
		r       latch.Request
		window  bool
		phrases []string
	}{
		{"window passed", latch.Request{Status: latch.StatusExpired, ScheduledStart: &start, Duration: 3600,
			UpdatedAt: start.Add(2 * time.Hour)}, true, []string{"scheduled window passed"}},
		{"undecided before its start", latch.Request{Status: latch.StatusExpired, ScheduledStart: &start, Duration: 3600,
			UpdatedAt: start.Add(-time.Hour)}, false, []string{"nobody decided in time"}},
		{"not scheduled", latch.Request{Status: latch.StatusExpired, Duration: 3600, UpdatedAt: start}, false,
			[]string{"nobody decided in time"}},
	}
	a := &App{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := windowPassed(c.r); got != c.window {
				t.Errorf("windowPassed = %v, want %v", got, c.window)
			}
			for _, text := range []string{a.threadText(context.Background(), f, latch.AuditExpired, c.r), a.status(context.Background(), f, c.r)} {
				for _, p := range c.phrases {
					if !strings.Contains(text, p) {
						t.Errorf("%q does not say %q", text, p)
					}
				}
			}
		})
	}
}
