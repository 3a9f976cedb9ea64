package apigw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/apigw"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp"
	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// loadEvent reads an API Gateway HTTP API (payload 2.0) event from testdata.
func loadEvent(t testing.TB, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// seen is what a handler saw of its request.
type seen struct {
	Method, Path, RawPath, EscapedPath, RawQuery, RequestURI string
	Host, RemoteAddr, Proto                                  string
	ContentLength                                            int64
	Header                                                   http.Header
	Body                                                     []byte
	Ctx                                                      context.Context
}

// recorder is a handler that records its request and answers 204.
func recorder(got *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			panic(err)
		}
		*got = seen{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, EscapedPath: r.URL.EscapedPath(),
			RawQuery: r.URL.RawQuery, RequestURI: r.RequestURI,
			Host: r.Host, RemoteAddr: r.RemoteAddr, Proto: r.Proto,
			ContentLength: r.ContentLength, Header: r.Header.Clone(), Body: body, Ctx: r.Context(),
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func invoke(t testing.TB, h http.Handler, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	res, err := apigw.Handler(h)(t.Context(), ev)
	if err != nil {
		t.Fatalf("the adapter returned an error: %v", err)
	}
	return res
}

// slackBody is the exact form body Slack posted for testdata/slack_command.json,
// and slackSecret and slackTime what it was signed with.
const (
	slackBody = "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example&channel_id=C2147483705" +
		"&channel_name=incidents&user_id=U2147483697&user_name=requester&command=%2Flatch" +
		"&text=prod-db+because+incident+%234711+%E2%80%94+P%C3%A9ter+asked+1%2B1%3D2" +
		"&api_app_id=A123456&is_enterprise_install=false" +
		"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0001%2F5678%2Fabcd" +
		"&trigger_id=13345224609.738474920.8088930838d88f008e0"
	slackSecret = "latch-test-signing-secret"
)

var slackTime = time.Unix(1767225600, 0)

func TestSlackCommandReachesTheHandlerByteForByte(t *testing.T) {
	ev := loadEvent(t, "slack_command.json")
	if !ev.IsBase64Encoded {
		t.Fatal("the sample must have a base64-encoded body")
	}
	var got seen
	invoke(t, recorder(&got), ev)

	if got.Method != http.MethodPost || got.Path != "/slack/commands" || got.RawQuery != "" || got.RequestURI != "/slack/commands" {
		t.Errorf("method, path, query, URI = %q %q %q %q", got.Method, got.Path, got.RawQuery, got.RequestURI)
	}
	if !bytes.Equal(got.Body, []byte(slackBody)) {
		t.Errorf("body:\n got %q\nwant %q", got.Body, slackBody)
	}
	if got.ContentLength != int64(len(slackBody)) {
		t.Errorf("ContentLength = %d, want %d", got.ContentLength, len(slackBody))
	}
	want := http.Header{
		"Accept":                    {"application/json,*/*"},
		"Accept-Encoding":           {"gzip,deflate"},
		"Content-Length":            {"418"},
		"Content-Type":              {"application/x-www-form-urlencoded"},
		"User-Agent":                {"Slackbot 1.0 (+https://api.slack.com/robots)"},
		"X-Amzn-Trace-Id":           {"Root=1-6955c800-3f1c2a7b5d9e4c0a8b6f1e2d"},
		"X-Forwarded-For":           {"203.0.113.10"},
		"X-Forwarded-Port":          {"443"},
		"X-Forwarded-Proto":         {"https"},
		"X-Slack-Request-Timestamp": {"1767225600"},
		"X-Slack-Signature":         {"v0=4174cdccff17f1cf103e92fcca048d1430b4ee5dcffd5ff18e4e4a8e40471c76"},
	}
	if d := cmp.Diff(want, got.Header); d != "" {
		t.Errorf("header (-want +got):\n%s", d)
	}
	if got.Host != "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com" || got.RemoteAddr != "203.0.113.10" || got.Proto != "HTTP/1.1" {
		t.Errorf("host, remote, proto = %q %q %q", got.Host, got.RemoteAddr, got.Proto)
	}
}

func TestSlackSignatureVerifiesAfterTheAdapter(t *testing.T) {
	ev := loadEvent(t, "slack_command.json")
	secret := []byte(slackSecret)
	// The sample's headers are Slack's signature of the raw form body.
	ts, sig := slacktest.Sign(secret, slackTime, []byte(slackBody))
	if ev.Headers["x-slack-request-timestamp"] != ts || ev.Headers["x-slack-signature"] != sig {
		t.Fatalf("testdata is not signed over slackBody: want %s %s", ts, sig)
	}
	clock := latch.ClockFunc(func() time.Time { return slackTime.Add(30 * time.Second) })

	var text string
	served := false
	h := slackapp.Verify(secret, clock, 1<<20, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served = true
		text = r.FormValue("text")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"response_type":"ephemeral","text":"ok"}`)
	}))

	res := invoke(t, h, ev)
	if res.StatusCode != http.StatusOK || !served {
		t.Fatalf("verified request: status %d, served %v, body %s", res.StatusCode, served, res.Body)
	}
	if want := "prod-db because incident #4711 — Péter asked 1+1=2"; text != want {
		t.Errorf("text = %q, want %q", text, want)
	}
	if res.IsBase64Encoded || res.Body != `{"response_type":"ephemeral","text":"ok"}` {
		t.Errorf("answer body = %q (base64 %v)", res.Body, res.IsBase64Encoded)
	}

	// The check is real: the same body, not decoded, or one byte changed, is refused.
	served = false
	undecoded := ev
	undecoded.IsBase64Encoded = false
	if res := invoke(t, h, undecoded); res.StatusCode != http.StatusUnauthorized || served {
		t.Errorf("body left in base64: status %d, served %v; want 401, not served", res.StatusCode, served)
	}
	tampered := ev
	tampered.Body = base64.StdEncoding.EncodeToString([]byte(strings.Replace(slackBody, "prod-db", "prod-dc", 1)))
	if res := invoke(t, h, tampered); res.StatusCode != http.StatusUnauthorized || served {
		t.Errorf("tampered body: status %d, served %v; want 401, not served", res.StatusCode, served)
	}
}

func TestGetWithQueryAndCookies(t *testing.T) {
	ev := loadEvent(t, "get_cookies.json")
	type ctxKey struct{}
	ctx := context.WithValue(t.Context(), ctxKey{}, "invocation")

	var got seen
	var cookies []*http.Cookie
	var flows []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recorder(&got).ServeHTTP(w, r)
		cookies = r.Cookies()
		flows = r.URL.Query()["flow"]
	})
	if _, err := apigw.Handler(h)(ctx, ev); err != nil {
		t.Fatal(err)
	}

	if got.Method != http.MethodGet || got.Path != "/v1/requests" {
		t.Errorf("method, path = %q %q", got.Method, got.Path)
	}
	if want := "status=pending&flow=prod-db&flow=staging%20db&q=a%2Bb"; got.RawQuery != want {
		t.Errorf("raw query = %q, want %q", got.RawQuery, want)
	}
	if want := "/v1/requests?status=pending&flow=prod-db&flow=staging%20db&q=a%2Bb"; got.RequestURI != want {
		t.Errorf("RequestURI = %q, want %q", got.RequestURI, want)
	}
	if d := cmp.Diff([]string{"prod-db", "staging db"}, flows); d != "" {
		t.Errorf("repeated query parameter (-want +got):\n%s", d)
	}
	want := http.Header{
		"Accept":            {"application/json"},
		"Accept-Language":   {"en-GB,en;q=0.9"},
		"Authorization":     {"Bearer lt_7Hq2xPz9RkWm4Nc8"},
		"Content-Length":    {"0"},
		"Cookie":            {"latch_session=s%3A1a2b3c; theme=dark"},
		"User-Agent":        {"latch-cli/0.4.0"},
		"X-Amzn-Trace-Id":   {"Root=1-6955c801-0a1b2c3d4e5f60718293a4b5"},
		"X-Forwarded-For":   {"198.51.100.23, 203.0.113.7"},
		"X-Forwarded-Port":  {"443"},
		"X-Forwarded-Proto": {"https"},
		"X-Request-Tag":     {"alpha,beta"}, // a repeated header stays one value
	}
	if d := cmp.Diff(want, got.Header); d != "" {
		t.Errorf("header (-want +got):\n%s", d)
	}
	if len(cookies) != 2 || cookies[0].Name != "latch_session" || cookies[0].Value != "s%3A1a2b3c" ||
		cookies[1].Name != "theme" || cookies[1].Value != "dark" {
		t.Errorf("cookies = %v", cookies)
	}
	if got.Host != "latch.example.com" || got.RemoteAddr != "203.0.113.7" {
		t.Errorf("host, remote = %q %q", got.Host, got.RemoteAddr)
	}
	if len(got.Body) != 0 || got.ContentLength != 0 {
		t.Errorf("body %q, ContentLength %d; want none", got.Body, got.ContentLength)
	}
	if got.Ctx.Value(ctxKey{}) != "invocation" {
		t.Error("the request's context is not the invocation's")
	}
}

func TestJSONPost(t *testing.T) {
	ev := loadEvent(t, "json_post.json")
	if ev.IsBase64Encoded {
		t.Fatal("the sample must have a plain body")
	}
	var got seen
	res := invoke(t, recorder(&got), ev)

	wantBody := "{\"flow\":\"prod-db\",\"for\":\"péter@example.com\",\"fields\":{\"reason\":\"incident #4711 — rollback\",\"duration\":\"1h\"}}\n"
	if string(got.Body) != wantBody {
		t.Errorf("body:\n got %q\nwant %q", got.Body, wantBody)
	}
	if got.ContentLength != int64(len(wantBody)) || got.Header.Get("Content-Length") != "112" {
		t.Errorf("ContentLength = %d, header %q; want %d", got.ContentLength, got.Header.Get("Content-Length"), len(wantBody))
	}
	if got.Method != http.MethodPost || got.Path != "/v1/requests" || got.RawQuery != "" {
		t.Errorf("method, path, query = %q %q %q", got.Method, got.Path, got.RawQuery)
	}
	if got.Header.Get("Content-Type") != "application/json; charset=utf-8" || got.Header.Get("Idempotency-Key") != "ci-run-8812" {
		t.Errorf("header = %v", got.Header)
	}
	if _, ok := got.Header["Host"]; ok || got.Host != "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com" {
		t.Errorf("Host %q, in header %v; want it in Request.Host only", got.Host, ok)
	}
	if res.StatusCode != http.StatusNoContent || res.Body != "" {
		t.Errorf("answer = %d %q", res.StatusCode, res.Body)
	}
}

func TestBinaryRequestBodyIsExact(t *testing.T) {
	raw := []byte{0x00, 0xff, 0xfe, 0x80, '\r', '\n', 0xc3, 0x28, 0x1f, 0x8b, 0x08}
	ev := loadEvent(t, "json_post.json")
	ev.Headers["content-type"] = "application/octet-stream"
	ev.Body = base64.StdEncoding.EncodeToString(raw)
	ev.IsBase64Encoded = true
	var got seen
	invoke(t, recorder(&got), ev)
	if !bytes.Equal(got.Body, raw) || got.ContentLength != int64(len(raw)) {
		t.Errorf("body %x (%d), want %x", got.Body, got.ContentLength, raw)
	}
}

func TestPathAndStage(t *testing.T) {
	for _, tc := range []struct {
		name, stage, rawPath      string
		path, rawPathOut, escaped string
	}{
		{"default stage", "$default", "/v1/flows", "/v1/flows", "", "/v1/flows"},
		{"named stage removed", "prod", "/prod/v1/flows", "/v1/flows", "", "/v1/flows"},
		{"named stage alone", "prod", "/prod", "/", "", "/"},
		{"named stage with slash", "prod", "/prod/", "/", "", "/"},
		{"only a whole segment", "prod", "/production/v1/flows", "/production/v1/flows", "", "/production/v1/flows"},
		{"stage not first", "prod", "/v1/prod", "/v1/prod", "", "/v1/prod"},
		{"default stage keeps a segment named like it", "$default", "/$default/x", "/$default/x", "", "/$default/x"},
		{"escaped slash", "$default", "/v1/requests/a%2Fb", "/v1/requests/a/b", "/v1/requests/a%2Fb", "/v1/requests/a%2Fb"},
		{"escaped slash under a stage", "dev", "/dev/v1/requests/a%2Fb", "/v1/requests/a/b", "/v1/requests/a%2Fb", "/v1/requests/a%2Fb"},
		{"bare percent", "$default", "/v1/100%", "/v1/100%", "", "/v1/100%25"},
		{"empty", "$default", "", "/", "", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := loadEvent(t, "json_post.json")
			ev.RequestContext.Stage = tc.stage
			ev.RawPath = tc.rawPath
			ev.RequestContext.HTTP.Path = tc.rawPath
			var got seen
			invoke(t, recorder(&got), ev)
			if got.Path != tc.path || got.RawPath != tc.rawPathOut || got.EscapedPath != tc.escaped {
				t.Errorf("Path %q RawPath %q EscapedPath %q; want %q %q %q",
					got.Path, got.RawPath, got.EscapedPath, tc.path, tc.rawPathOut, tc.escaped)
			}
		})
	}
}

func TestPathValueOfAnEscapedSegment(t *testing.T) {
	mux := http.NewServeMux()
	var id string
	mux.HandleFunc("GET /v1/requests/{id}", func(w http.ResponseWriter, r *http.Request) { id = r.PathValue("id") })
	ev := loadEvent(t, "get_cookies.json")
	ev.RawPath = "/v1/requests/req%2F1"
	if res := invoke(t, mux, ev); res.StatusCode != http.StatusOK || id != "req/1" {
		t.Errorf("status %d, id %q; want 200, req/1", res.StatusCode, id)
	}
}

func TestSameHeaderInTwoSpellings(t *testing.T) {
	ev := loadEvent(t, "json_post.json")
	ev.Headers = map[string]string{"X-Tag": "a", "x-tag": "b", "x-other": "c"}
	var got seen
	invoke(t, recorder(&got), ev)
	tags := append([]string(nil), got.Header["X-Tag"]...)
	slices.Sort(tags)
	if d := cmp.Diff([]string{"a", "b"}, tags); d != "" || got.Header.Get("X-Other") != "c" {
		t.Errorf("X-Tag (-want +got):\n%s\nheader %v", d, got.Header)
	}
}

func TestHostFallsBackToDomainName(t *testing.T) {
	ev := loadEvent(t, "json_post.json")
	delete(ev.Headers, "host")
	ev.RequestContext.DomainName = "api.latch.example.com"
	var got seen
	invoke(t, recorder(&got), ev)
	if got.Host != "api.latch.example.com" {
		t.Errorf("Host = %q", got.Host)
	}
}

func TestUnreadableRequests(t *testing.T) {
	for name, mutate := range map[string]func(*events.APIGatewayV2HTTPRequest){
		"bad base64": func(ev *events.APIGatewayV2HTTPRequest) { ev.Body, ev.IsBase64Encoded = "not base64!", true },
		"bad method": func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "GET /x" },
	} {
		t.Run(name, func(t *testing.T) {
			ev := loadEvent(t, "json_post.json")
			mutate(&ev)
			served := false
			res := invoke(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }), ev)
			if served || res.StatusCode != http.StatusBadRequest {
				t.Fatalf("served %v, status %d; want 400 without the handler", served, res.StatusCode)
			}
			assertJSONError(t, res, "bad_request")
		})
	}
}

func TestResponses(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
	for _, tc := range []struct {
		name    string
		method  string
		handler http.HandlerFunc
		want    events.APIGatewayV2HTTPResponse
	}{
		{
			name:    "nothing written is 200",
			handler: func(http.ResponseWriter, *http.Request) {},
			want:    events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{}},
		},
		{
			name: "JSON is text",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusAccepted)
				_, _ = w.Write([]byte(`{"id":"req_1","note":"déjà"}`))
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 202,
				Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"id":"req_1","note":"déjà"}`},
		},
		{
			name: "CSV is text",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/csv; charset=utf-8")
				_, _ = io.WriteString(w, "id,status\nreq_1,active\n")
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 200,
				Headers: map[string]string{"Content-Type": "text/csv; charset=utf-8"}, Body: "id,status\nreq_1,active\n"},
		},
		{
			name: "problem+json is text",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "Application/Problem+JSON")
				_, _ = io.WriteString(w, `{}`)
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 200,
				Headers: map[string]string{"Content-Type": "Application/Problem+JSON"}, Body: `{}`},
		},
		{
			name: "binary is base64",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "image/png")
				_, _ = w.Write(png)
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "image/png"},
				Body: base64.StdEncoding.EncodeToString(png), IsBase64Encoded: true},
		},
		{
			name: "text that is not UTF-8 is base64",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				_, _ = w.Write([]byte("caf\xe9"))
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/plain"},
				Body: base64.StdEncoding.EncodeToString([]byte("caf\xe9")), IsBase64Encoded: true},
		},
		{
			name: "compressed JSON is base64",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", "gzip")
				_, _ = io.WriteString(w, "{}") // the bytes do not matter here
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 200,
				Headers: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"},
				Body:    base64.StdEncoding.EncodeToString([]byte("{}")), IsBase64Encoded: true},
		},
		{
			name:    "content type sniffed as net/http does",
			handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html><body>hi</body></html>") },
			want: events.APIGatewayV2HTTPResponse{StatusCode: 200,
				Headers: map[string]string{"Content-Type": "text/html; charset=utf-8"}, Body: "<html><body>hi</body></html>"},
		},
		{
			name: "Set-Cookie goes to cookies, other repeated headers are joined",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				http.SetCookie(w, &http.Cookie{Name: "latch_session", Value: "abc", Path: "/", HttpOnly: true, Secure: true})
				http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark"})
				w.Header().Add("Vary", "Accept")
				w.Header().Add("Vary", "Authorization")
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, "{}")
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 200,
				Headers: map[string]string{"Content-Type": "application/json", "Vary": "Accept, Authorization"},
				Cookies: []string{"latch_session=abc; Path=/; HttpOnly; Secure", "theme=dark"}, Body: "{}"},
		},
		{
			name: "first status wins and later header changes are ignored",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				w.WriteHeader(http.StatusInternalServerError)
				w.Header().Set("X-Late", "1")
				w.Header().Set("Content-Type", "image/png")
				_, _ = io.WriteString(w, "{}")
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 201,
				Headers: map[string]string{"Content-Type": "application/json"}, Body: "{}"},
		},
		{
			name: "informational status is not the answer",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusEarlyHints)
				w.WriteHeader(http.StatusConflict)
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 409, Headers: map[string]string{}},
		},
		{
			name: "204 has no body",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNoContent)
				_, _ = io.WriteString(w, "ignored")
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 204, Headers: map[string]string{}},
		},
		{
			name:   "HEAD has no body",
			method: http.MethodHead,
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, "{}")
			},
			want: events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := loadEvent(t, "get_cookies.json")
			if tc.method != "" {
				ev.RequestContext.HTTP.Method = tc.method
			}
			got := invoke(t, tc.handler, ev)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("response (-want +got):\n%s", d)
			}
		})
	}
}

// TestBinaryResponseRoundTrip decodes the answer as API Gateway does.
func TestBinaryResponseRoundTrip(t *testing.T) {
	raw := make([]byte, 256)
	for i := range raw {
		raw[i] = byte(i)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(raw)
	})
	res := invoke(t, h, loadEvent(t, "get_cookies.json"))
	if !res.IsBase64Encoded {
		t.Fatal("binary answer not base64-encoded")
	}
	b, err := base64.StdEncoding.DecodeString(res.Body)
	if err != nil || !bytes.Equal(b, raw) {
		t.Errorf("decoded body %x, %v; want %x", b, err, raw)
	}
}

func TestPanicBecomesA500(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"before writing": func(http.ResponseWriter, *http.Request) { panic("store exploded: secret detail") },
		"after writing": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("X-Partial", "1")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "half an answer")
			panic("store exploded: secret detail")
		},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			ev := loadEvent(t, "json_post.json")
			res, err := apigw.HandlerWithLog(h, log)(t.Context(), ev)
			if err != nil {
				t.Fatalf("a panic came back as a Lambda error: %v", err)
			}
			if res.StatusCode != http.StatusInternalServerError {
				t.Fatalf("status = %d, want 500", res.StatusCode)
			}
			assertJSONError(t, res, "internal")
			if strings.Contains(res.Body, "secret detail") || res.Headers["X-Partial"] != "" || len(res.Headers) != 1 {
				t.Errorf("the answer shows the cause or the partial answer: %+v", res)
			}
			var entry struct {
				Msg, Panic, Stack, Method, Path string
				RequestID                       string `json:"request_id"`
			}
			if err := json.Unmarshal(logs.Bytes(), &entry); err != nil {
				t.Fatalf("log %q: %v", logs.String(), err)
			}
			if entry.Msg != "handler panicked" || entry.Panic != "store exploded: secret detail" ||
				entry.Method != "POST" || entry.Path != "/v1/requests" || entry.RequestID != "XyZ3cDeFgHiJkLm=" ||
				!strings.Contains(entry.Stack, "apigw_test.TestPanicBecomesA500") {
				t.Errorf("log entry = %+v", entry)
			}
		})
	}
}

func TestPanicWithTheDefaultLogger(t *testing.T) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	res := invoke(t, h, loadEvent(t, "get_cookies.json"))
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", res.StatusCode)
	}
	assertJSONError(t, res, "internal")
}

// TestTheAPIThroughTheAdapter serves the API's own handler.
func TestTheAPIThroughTheAdapter(t *testing.T) {
	h := (&httpapi.Server{}).Handler()
	ev := loadEvent(t, "get_cookies.json")
	ev.RawPath, ev.RawQueryString = "/prod/healthz", ""
	ev.RequestContext.Stage = "prod"
	res := invoke(t, h, ev)
	if res.StatusCode != http.StatusOK || res.IsBase64Encoded || strings.TrimSpace(res.Body) != `{"status":"ok"}` {
		t.Errorf("healthz = %d %q", res.StatusCode, res.Body)
	}
	ev.RawPath = "/prod/nowhere"
	res = invoke(t, h, ev)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown route = %d %q", res.StatusCode, res.Body)
	}
	assertJSONError(t, res, "route_not_found")
}

func assertJSONError(t *testing.T, res events.APIGatewayV2HTTPResponse, code string) {
	t.Helper()
	if res.Headers["Content-Type"] != "application/json" || res.IsBase64Encoded {
		t.Errorf("error answer headers %v, base64 %v", res.Headers, res.IsBase64Encoded)
	}
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatalf("error body %q: %v", res.Body, err)
	}
	if body.Error.Code != code || body.Error.Message == "" {
		t.Errorf("error = %+v, want code %q and a message", body.Error, code)
	}
}

func BenchmarkHandler(b *testing.B) {
	ev := loadEvent(b, "json_post.json")
	h := apigw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id":"req_01JGZ8Q1","status":"pending"}`)
	}))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := h(ctx, ev)
		if err != nil || res.StatusCode != http.StatusAccepted {
			b.Fatal(res.StatusCode, err)
		}
	}
}
