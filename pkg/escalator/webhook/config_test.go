package webhook_test

import (
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/escalator/webhook"
	"github.com/latchhq/latch/pkg/latch"
)

func TestValidateConfig(t *testing.T) {
	targets := []latch.Target{{ID: "prod-admins", Settings: map[string]any{"group": "prod-admins"}}}
	with := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"url": "https://hooks.example.com/latch", "secret_env": "LATCH_WEBHOOK_SECRET"}
		edit(c)
		return c
	}
	tests := []struct {
		name    string
		config  map[string]any
		targets []latch.Target
		wantErr []string // each must appear in the error; none means valid
		notIn   string   // must not appear in the error
	}{
		{name: "minimal", config: with(func(map[string]any) {})},
		{name: "everything", config: with(func(c map[string]any) {
			c["url"] = "http://127.0.0.1:8080/latch?tenant=a"
			c["timeout"] = "30s"
			c["headers"] = map[string]any{"Authorization": "Bearer x", "X-Tenant": "acme"}
		})},
		{name: "timeout in whole seconds", config: with(func(c map[string]any) { c["timeout"] = 15 })},
		{name: "timeout in whole seconds from a flow file", config: with(func(c map[string]any) { c["timeout"] = int64(300) })},
		{name: "timeout as a whole float", config: with(func(c map[string]any) { c["timeout"] = 20.0 })},
		{name: "headers from Go code", config: with(func(c map[string]any) { c["headers"] = map[string]string{"X-A": "b"} })},
		{name: "the secret's variable need not be set", config: with(func(c map[string]any) { c["secret_env"] = "SURELY_NOT_SET_ANYWHERE_1234" })},
		{name: "several targets", targets: []latch.Target{{ID: "a"}, {ID: "b", Settings: map[string]any{"n": 1}}}, config: with(func(map[string]any) {})},

		{name: "empty config", config: map[string]any{}, wantErr: []string{"url is required", "secret_env is required"}},
		{name: "nil config", config: nil, wantErr: []string{"url is required", "secret_env is required"}},
		{name: "url not text", config: with(func(c map[string]any) { c["url"] = 42 }), wantErr: []string{"url must be text"}},
		{name: "url empty", config: with(func(c map[string]any) { c["url"] = " " }), wantErr: []string{"url is empty"}},
		{name: "url with another scheme", config: with(func(c map[string]any) { c["url"] = "ftp://example.com/x" }), wantErr: []string{"url must start with https://"}},
		{name: "url without scheme", config: with(func(c map[string]any) { c["url"] = "hooks.example.com/latch" }), wantErr: []string{"url must start with https://"}},
		{name: "url without host", config: with(func(c map[string]any) { c["url"] = "https:///latch" }), wantErr: []string{"url must name a host"}},
		{name: "url unparsable", config: with(func(c map[string]any) { c["url"] = "https://exa mple.com/%zz" }), wantErr: []string{"url is not a valid URL"}},
		{name: "url with credentials", config: with(func(c map[string]any) { c["url"] = "https://user:pw@example.com/" }), wantErr: []string{"must not contain a user name or password"}, notIn: "pw@"},
		{name: "url with fragment", config: with(func(c map[string]any) { c["url"] = "https://example.com/#x" }), wantErr: []string{"#fragment"}},
		{name: "secret_env missing", config: map[string]any{"url": "https://example.com"}, wantErr: []string{"secret_env is required"}},
		{name: "secret_env not text", config: with(func(c map[string]any) { c["secret_env"] = true }), wantErr: []string{"secret_env must be the name of an environment variable"}},
		{name: "secret_env holds the secret itself", config: with(func(c map[string]any) { c["secret_env"] = "whsec-8f2b/Q+9x" }),
			wantErr: []string{"secret_env must be the NAME of an environment variable"}, notIn: "whsec-8f2b"},
		{name: "secret_env starts with a digit", config: with(func(c map[string]any) { c["secret_env"] = "1SECRET" }), wantErr: []string{"secret_env must be the NAME"}},
		{name: "timeout not a duration", config: with(func(c map[string]any) { c["timeout"] = "soon" }), wantErr: []string{`timeout "soon" is not a duration`}},
		{name: "timeout zero", config: with(func(c map[string]any) { c["timeout"] = "0s" }), wantErr: []string{"timeout must be more than 0s"}},
		{name: "timeout negative seconds", config: with(func(c map[string]any) { c["timeout"] = -5 }), wantErr: []string{"timeout must be more than 0s"}},
		{name: "timeout too long", config: with(func(c map[string]any) { c["timeout"] = "1h" }), wantErr: []string{"at most 5m, got 1h"}},
		{name: "timeout in seconds too long", config: with(func(c map[string]any) { c["timeout"] = int64(301) }), wantErr: []string{"at most 5m, got 301 seconds"}},
		{name: "timeout in seconds that would overflow", config: with(func(c map[string]any) { c["timeout"] = int64(9223372037) }), wantErr: []string{"at most 5m"}},
		{name: "timeout fractional seconds", config: with(func(c map[string]any) { c["timeout"] = 1.5 }), wantErr: []string{"timeout 1.5 is not a duration"}},
		{name: "timeout of another type", config: with(func(c map[string]any) { c["timeout"] = []any{"10s"} }), wantErr: []string{"timeout must be a duration"}},
		{name: "headers not a map", config: with(func(c map[string]any) { c["headers"] = []any{"X-A: b"} }), wantErr: []string{"headers must be a map"}},
		{name: "header reserved", config: with(func(c map[string]any) { c["headers"] = map[string]any{"content-type": "text/plain"} }),
			wantErr: []string{"Content-Type is set by Latch"}},
		{name: "signature header reserved", config: with(func(c map[string]any) { c["headers"] = map[string]any{"X-Latch-Signature": "x"} }),
			wantErr: []string{"X-Latch-Signature is set by Latch"}},
		{name: "header name invalid", config: with(func(c map[string]any) { c["headers"] = map[string]any{"X Tenant": "a"} }), wantErr: []string{`"X Tenant" is not a valid header name`}},
		{name: "header value not text", config: with(func(c map[string]any) { c["headers"] = map[string]any{"X-Version": 2} }), wantErr: []string{"value of X-Version must be text"}},
		{name: "header value with a line break", config: with(func(c map[string]any) { c["headers"] = map[string]any{"X-A": "a\r\nX-B: b"} }), wantErr: []string{"must not contain line breaks"}},
		{name: "header given twice", config: with(func(c map[string]any) { c["headers"] = map[string]any{"x-a": "1", "X-A": "2"} }), wantErr: []string{"X-A is given twice"}},
		{name: "unknown key", config: with(func(c map[string]any) { c["secret"] = "abc" }), wantErr: []string{`unknown key "secret"`}},
		{name: "no targets", targets: []latch.Target{}, config: with(func(map[string]any) {}), wantErr: []string{"at least one target is required"}},
		{name: "target without id", targets: []latch.Target{{Label: "x"}}, config: with(func(map[string]any) {}), wantErr: []string{"target 1 has no id"}},
		{name: "duplicate target", targets: []latch.Target{{ID: "a"}, {ID: "a"}}, config: with(func(map[string]any) {}), wantErr: []string{`target "a" is listed twice`}},
		{name: "settings not JSON", targets: []latch.Target{{ID: "a", Settings: map[string]any{"m": map[any]any{1: "x"}}}}, config: with(func(map[string]any) {}),
			wantErr: []string{`target "a": settings cannot be sent as JSON`}},
		{name: "every problem at once", config: map[string]any{"url": "ftp://x", "timeout": "never", "extra": 1}, targets: []latch.Target{},
			wantErr: []string{"unknown key \"extra\"", "url must start", "secret_env is required", "timeout \"never\"", "at least one target"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := targets
			if tt.targets != nil {
				ts = tt.targets
			}
			err := webhook.ValidateConfig(tt.config, ts)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ValidateConfig: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateConfig: nil, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ValidateConfig: %v\nwant it to contain %q", err, w)
				}
			}
			if tt.notIn != "" && strings.Contains(err.Error(), tt.notIn) {
				t.Errorf("ValidateConfig: %v\nmust not contain %q", err, tt.notIn)
			}
		})
	}
}

func TestValidateConfigReturnsOneErrorPerProblem(t *testing.T) {
	err := webhook.ValidateConfig(map[string]any{"url": "ftp://x", "timeout": "never"}, nil)
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("ValidateConfig: %T %v, want errors joined with errors.Join", err, err)
	}
	var got []string
	for _, e := range j.Unwrap() {
		got = append(got, e.Error())
	}
	want := []string{
		"url must start with https:// (or http://)",
		"secret_env is required: the name of the environment variable that holds the signing secret",
		`timeout "never" is not a duration (write 10s, 30s or 1m)`,
		"at least one target is required: a target's id and settings are sent to the receiver",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
