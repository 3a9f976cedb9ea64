// Package apigw serves an http.Handler from AWS Lambda behind an API Gateway
// HTTP API (payload format version 2.0), so that the Slack and API ingress
// functions run the very handlers `latch server` serves over net/http.
//
// # The request
//
// Handler turns each events.APIGatewayV2HTTPRequest into an *http.Request the
// way net/http's server would have built it from the client's request:
//
//   - Method: requestContext.http.method.
//   - Path: rawPath (requestContext.http.path when rawPath is empty), taken as
//     the escaped path: URL.Path is its unescaped form and URL.RawPath keeps
//     the original spelling, as net/http does. With the $default stage the
//     path is used as it is. With a named stage API Gateway puts the stage
//     in front of rawPath ("/prod/v1/flows" for stage "prod"), also when the
//     API is reached through a custom domain's API mapping (whose key never
//     reaches the event); the adapter removes that first segment, and only
//     when it is exactly the stage name, so the handler's routes are the same
//     in every stage.
//   - Query: rawQueryString, as the client sent it (URL.RawQuery).
//   - Headers: every entry of headers, under its canonical name. API Gateway
//     lower-cases names and joins a repeated header's values with commas; the
//     joined value is kept as one value, not split again (a comma may belong
//     to the value itself).
//   - Cookies: API Gateway moves the Cookie headers into cookies; they become
//     one Cookie header again, joined with "; " (they replace a cookie entry
//     in headers, should one be there).
//   - Host: the host header, else requestContext.domainName. As with
//     net/http, Host is in Request.Host and not in Request.Header.
//   - Body: body, decoded from base64 when isBase64Encoded. The handler reads
//     exactly the bytes the client sent, which is what a Slack signature is
//     computed over. ContentLength is the body's length, and GetBody is set.
//   - RemoteAddr: requestContext.http.sourceIp, the bare address without a
//     port (API Gateway gives none). X-Forwarded-For and X-Forwarded-Proto
//     stay in the headers as API Gateway sets them; Request.TLS is nil
//     although the client spoke HTTPS to API Gateway.
//   - Proto: requestContext.http.protocol (HTTP/1.1 when it is missing).
//   - Context: the Lambda invocation's context, so its deadline and
//     cancellation reach the handler.
//
// A body that is not valid base64, or a method net/http would refuse, is
// answered 400 with a JSON error without calling the handler.
//
// # The response
//
// The handler writes into a buffer, and its answer becomes an
// events.APIGatewayV2HTTPResponse:
//
//   - Status: the first WriteHeader's code, 200 when the handler wrote
//     nothing or only the body. Informational codes (1xx) are ignored.
//   - Headers: as they stood at WriteHeader (later changes are ignored, as
//     net/http ignores them). A header with several values is sent as one,
//     joined with ", ". Set-Cookie is the exception: each value goes to
//     cookies, from which API Gateway sends one Set-Cookie header each.
//     Content-Type is sniffed with http.DetectContentType when the handler
//     set none and wrote a body, as net/http does.
//   - Body: sent as text when the content type is textual (text/*, JSON,
//     XML, YAML, JavaScript, form data, and the +json, +xml and +yaml
//     types), no Content-Encoding is set, and the bytes are valid UTF-8;
//     otherwise base64-encoded with isBase64Encoded set, so binary answers
//     pass unchanged. No body is sent for HEAD requests or 204 and 304
//     answers. A Lambda response is limited to 6 MB, base64 included.
//
// # Panics
//
// A panic in the handler is recovered and logged with its stack; the client
// receives a 500 with the API's JSON error body,
// {"error":{"code":"internal","message":"..."}}, never the cause. The
// function returns no error in that case: a Lambda error would make API
// Gateway answer its own bare 500/502 instead.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// LambdaHandler is the function lambda.Start accepts for API Gateway HTTP API
// (payload format 2.0) events.
type LambdaHandler = func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Handler serves h for API Gateway HTTP API events, as the package
// documentation describes. Recovered panics are logged to slog.Default().
// The returned function never returns an error.
func Handler(h http.Handler) LambdaHandler {
	return HandlerWithLog(h, nil)
}

// HandlerWithLog is Handler with recovered panics and unreadable requests
// logged to log; a nil log is slog.Default() at the time of logging.
func HandlerWithLog(h http.Handler, log *slog.Logger) LambdaHandler {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		logger := log
		if logger == nil {
			logger = slog.Default()
		}
		r, err := Request(ctx, ev)
		if err != nil {
			logger.WarnContext(ctx, "request could not be read", "request_id", ev.RequestContext.RequestID, "err", err)
			return errorResponse(http.StatusBadRequest, "bad_request", "The request could not be read."), nil
		}
		w := &responseWriter{header: make(http.Header)}
		if p, stack, panicked := serve(h, w, r); panicked {
			logger.ErrorContext(ctx, "handler panicked", "method", r.Method, "path", r.URL.Path,
				"request_id", ev.RequestContext.RequestID, "panic", fmt.Sprint(p), "stack", string(stack))
			return errorResponse(http.StatusInternalServerError, "internal", internalMessage), nil
		}
		return w.response(r.Method), nil
	}
}

// internalMessage is what the client is told about a panic: the same words
// the API uses for every 5xx, without the cause.
const internalMessage = "Latch could not complete this; try again. The server log has the cause."

// serve runs h and reports a panic, with the stack where it happened.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (p any, stack []byte, panicked bool) {
	defer func() {
		if p = recover(); p != nil {
			stack, panicked = debug.Stack(), true
		}
	}()
	h.ServeHTTP(w, r)
	return nil, nil, false
}

// Request builds the *http.Request ev describes, with ctx as its context.
// It fails when the body is not valid base64 or the method is not a valid
// HTTP method.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if ev.IsBase64Encoded && ev.Body != "" {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("apigw: body is not base64: %w", err)
		}
		body = bytes.NewReader(b)
	} else {
		body = strings.NewReader(ev.Body)
	}
	// NewRequestWithContext checks the method and sets Body, ContentLength
	// and GetBody from the reader (http.NoBody when it is empty).
	r, err := http.NewRequestWithContext(ctx, method, "", body)
	if err != nil {
		return nil, fmt.Errorf("apigw: %w", err)
	}

	r.URL = requestURL(ev)
	r.RequestURI = r.URL.RequestURI()
	if major, minor, ok := http.ParseHTTPVersion(ev.RequestContext.HTTP.Protocol); ok {
		r.Proto, r.ProtoMajor, r.ProtoMinor = ev.RequestContext.HTTP.Protocol, major, minor
	}
	r.Header = make(http.Header, len(ev.Headers)+1)
	values := make([]string, len(ev.Headers)) // one backing array for all one-value headers
	i := 0
	for k, v := range ev.Headers {
		k = http.CanonicalHeaderKey(k)
		if prev, ok := r.Header[k]; ok { // "Accept" and "accept" both given (not by API Gateway)
			r.Header[k] = append(prev, v)
			continue
		}
		values[i] = v
		r.Header[k] = values[i : i+1 : i+1]
		i++
	}
	if len(ev.Cookies) > 0 {
		r.Header["Cookie"] = []string{strings.Join(ev.Cookies, "; ")}
	}
	r.Host = ev.RequestContext.DomainName
	if hs := r.Header["Host"]; len(hs) > 0 && hs[0] != "" {
		r.Host = hs[0]
	}
	delete(r.Header, "Host")
	r.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	return r, nil
}

// requestURL is the path and query of ev, without a named stage's prefix.
func requestURL(ev events.APIGatewayV2HTTPRequest) *url.URL {
	raw := ev.RawPath
	if raw == "" {
		raw = ev.RequestContext.HTTP.Path
	}
	if stage := ev.RequestContext.Stage; stage != "" && stage != "$default" {
		if rest, ok := strings.CutPrefix(raw, "/"+stage); ok && (rest == "" || rest[0] == '/') {
			raw = rest
		}
	}
	if raw == "" || raw[0] != '/' {
		raw = "/" + raw
	}
	u := &url.URL{Path: raw, RawQuery: ev.RawQueryString}
	// rawPath is the escaped path. One that does not unescape (a bare "%")
	// is taken literally; EscapedPath then escapes it again.
	if p, err := url.PathUnescape(raw); err == nil && p != raw {
		u.Path, u.RawPath = p, raw
	}
	return u
}

// responseWriter buffers the handler's answer.
type responseWriter struct {
	header http.Header
	status int         // 0 until WriteHeader
	sent   http.Header // the header as it stood at WriteHeader
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		// As net/http does: a status that cannot be written is a bug.
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.status != 0 || code < 200 {
		return
	}
	w.status = code
	// Changes after WriteHeader must not reach the answer, as with net/http.
	w.sent = w.header.Clone()
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}

func (w *responseWriter) WriteString(s string) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.WriteString(s)
}

// response is the API Gateway answer for what the handler wrote.
func (w *responseWriter) response(method string) events.APIGatewayV2HTTPResponse {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	body := w.body.Bytes()
	if method == http.MethodHead || w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		body = nil
	}
	h := w.sent
	if _, set := h["Content-Type"]; !set && len(body) > 0 {
		h["Content-Type"] = []string{http.DetectContentType(body)}
	}
	res := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: make(map[string]string, len(h))}
	for k, vs := range h {
		switch {
		case len(vs) == 0:
		case k == "Set-Cookie":
			res.Cookies = append(res.Cookies, vs...)
		case len(vs) == 1:
			res.Headers[k] = vs[0]
		default:
			res.Headers[k] = strings.Join(vs, ", ")
		}
	}
	if len(body) == 0 {
		return res
	}
	if isText(h) && utf8.Valid(body) {
		res.Body = string(body)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(body)
		res.IsBase64Encoded = true
	}
	return res
}

// isText reports whether a body with header h may be sent as text: its
// content type is textual and it is not compressed.
func isText(h http.Header) bool {
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	ct := h.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	if strings.HasPrefix(ct, "text/") {
		return true
	}
	switch ct {
	case "application/json", "application/xml", "application/yaml", "application/x-yaml",
		"application/javascript", "application/x-www-form-urlencoded", "application/x-ndjson":
		return true
	}
	return strings.HasSuffix(ct, "+json") || strings.HasSuffix(ct, "+xml") || strings.HasSuffix(ct, "+yaml")
}

// errorResponse is an answer with the API's JSON error body.
func errorResponse(status int, code, message string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       `{"error":{"code":"` + code + `","message":"` + message + `"}}` + "\n",
	}
}
