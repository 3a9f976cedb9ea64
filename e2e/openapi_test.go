package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// openAPIFile is the API's description; every call the suite makes to a
// latch server is checked against it after the tests have run.
const openAPIFile = "../docs/openapi.yaml"

// apiCalls records the calls made through http.DefaultClient (which
// pkg/client uses) to the latch servers startServer starts. TestMain installs
// it; the CLI runs as its own process and is not recorded.
var apiCalls = &recorder{next: http.DefaultTransport, hosts: map[string]bool{}}

// exchange is one recorded call: the request as sent and the response as
// received.
type exchange struct {
	Method     string
	URL        *url.URL
	ReqHeader  http.Header
	ReqBody    []byte
	Status     int
	RespHeader http.Header
	RespBody   []byte
}

// recorder is an http.RoundTripper that keeps a copy of every exchange with a
// tracked host and passes every call on to next unchanged.
type recorder struct {
	next http.RoundTripper

	mu    sync.Mutex
	hosts map[string]bool
	calls []exchange
}

// track records calls to the server at baseURL from now on.
func (r *recorder) track(baseURL string) {
	u, err := url.Parse(baseURL)
	if err != nil {
		panic(fmt.Sprintf("track %q: %v", baseURL, err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts[u.Host] = true
}

func (r *recorder) tracked(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hosts[host]
}

// recorded returns the exchanges so far, in the order they completed.
func (r *recorder) recorded() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if !r.tracked(req.URL.Host) {
		return r.next.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	out := req.Clone(req.Context())
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := r.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.Request = req
	r.mu.Lock()
	r.calls = append(r.calls, exchange{Method: req.Method, URL: req.URL, ReqHeader: req.Header.Clone(), ReqBody: body,
		Status: resp.StatusCode, RespHeader: resp.Header.Clone(), RespBody: data})
	r.mu.Unlock()
	return resp, nil
}

// apiDoc checks exchanges against the OpenAPI document.
type apiDoc struct {
	doc    *openapi3.T
	router routers.Router
}

// loadAPIDoc reads and validates the document at path.
func loadAPIDoc(path string) (*apiDoc, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", path, err)
	}
	// The suite's servers listen on ports of their own: match any host.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", path, err)
	}
	return &apiDoc{doc: doc, router: router}, nil
}

// check returns the documented operation an exchange went to ("" for a
// route the document does not have) and what about it contradicts the
// document, or nil.
//
// The response must match the document. So must the request, unless the
// server refused it with an error: the suite sends wrong requests on
// purpose. A request the document accepts but the server refuses as
// bad_json means the document's body schema is looser than the server.
func (d *apiDoc) check(ex exchange) (op string, err error) {
	ctx := context.Background()
	req, err := http.NewRequestWithContext(ctx, ex.Method, ex.URL.String(), bytes.NewReader(ex.ReqBody))
	if err != nil {
		return "", err
	}
	req.Header = ex.ReqHeader.Clone()
	route, params, err := d.router.FindRoute(req)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		return "", d.checkUnrouted(ex)
	} else if err != nil {
		return "", fmt.Errorf("find the route: %w", err)
	}
	op = ex.Method + " " + route.Path
	if len(ex.ReqBody) > 0 && req.Header.Get("Content-Type") == "" {
		// The server reads a body whatever its Content-Type says; so does the
		// suite, which often sends none.
		if rb := route.Operation.RequestBody; rb != nil && len(rb.Value.Content) == 1 {
			for ct := range rb.Value.Content {
				req.Header.Set("Content-Type", ct)
			}
		}
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent, SkipSettingDefaults: true}}
	in.Options.WithCustomSchemaErrorFunc(schemaErrorText)
	reqErr := openapi3filter.ValidateRequest(ctx, in)

	respOpts := &openapi3filter.Options{IncludeResponseStatus: true}
	respOpts.WithCustomSchemaErrorFunc(schemaErrorText)
	if len(ex.RespBody) == 0 && emptyAllowed(route.Operation, ex.Status) {
		// Slack's acknowledgement: an empty 200, which the document marks
		// with x-empty-body beside the JSON the same route may answer.
		if reqErr != nil {
			return op, fmt.Errorf("the server accepted a request the document refuses: %w", reqErr)
		}
		return op, nil
	}
	if err := openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{RequestValidationInput: in,
		Status: ex.Status, Header: ex.RespHeader, Body: io.NopCloser(bytes.NewReader(ex.RespBody)), Options: respOpts}); err != nil {
		return op, fmt.Errorf("response: %w", err)
	}
	switch {
	case reqErr != nil && ex.Status < 400:
		return op, fmt.Errorf("the server accepted a request the document refuses: %w", reqErr)
	case reqErr == nil && ex.Status == http.StatusBadRequest && errorCode(ex.RespBody) == "bad_json":
		return op, errors.New("the document accepts a body the server refused as bad_json")
	}
	return op, nil
}

// emptyAllowed reports whether the operation's response for status says
// that its body may be empty (x-empty-body: true).
func emptyAllowed(op *openapi3.Operation, status int) bool {
	r := op.Responses.Status(status)
	if r == nil || r.Value == nil {
		return false
	}
	v, _ := r.Value.Extensions["x-empty-body"].(bool)
	return v
}

// checkUnrouted checks the answer to a call the document has no route for:
// 404 route_not_found.
func (d *apiDoc) checkUnrouted(ex exchange) error {
	if ex.Status == http.StatusMethodNotAllowed {
		return d.checkMethodNotAllowed(ex)
	}
	if ex.Status != http.StatusNotFound {
		return fmt.Errorf("the document has no %s %s, but the server answered %d", ex.Method, ex.URL.Path, ex.Status)
	}
	var body any
	if err := json.Unmarshal(ex.RespBody, &body); err != nil {
		return fmt.Errorf("the 404 body is not JSON: %w", err)
	}
	schema := d.doc.Components.Schemas["Error404"]
	if err := schema.Value.VisitJSON(body, openapi3.VisitAsResponse(), openapi3.SetSchemaErrorMessageCustomizer(schemaErrorText)); err != nil {
		return fmt.Errorf("the 404 body does not match Error404: %w", err)
	}
	if code := errorCode(ex.RespBody); code != "route_not_found" {
		return fmt.Errorf("a route the document does not have answered 404 %s, not route_not_found", code)
	}
	return nil
}

// checkMethodNotAllowed checks a 405: the document has the path, but not
// with this method; Allow names exactly the methods the document has for it
// (GET bringing HEAD), and the body matches Error405.
func (d *apiDoc) checkMethodNotAllowed(ex exchange) error {
	var documented []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := m
		if m == http.MethodHead {
			probe = http.MethodGet
		}
		req, err := http.NewRequest(probe, ex.URL.String(), nil)
		if err != nil {
			return err
		}
		if _, _, err := d.router.FindRoute(req); err == nil {
			documented = append(documented, m)
		}
	}
	if len(documented) == 0 {
		return fmt.Errorf("the server answered 405 for %s, a path the document does not have", ex.URL.Path)
	}
	if got, want := ex.RespHeader.Get("Allow"), strings.Join(documented, ", "); got != want {
		return fmt.Errorf("405 with Allow %q; the document has %q for this path", got, want)
	}
	var body any
	if err := json.Unmarshal(ex.RespBody, &body); err != nil {
		return fmt.Errorf("the 405 body is not JSON: %w", err)
	}
	schema := d.doc.Components.Schemas["Error405"]
	if err := schema.Value.VisitJSON(body, openapi3.VisitAsResponse(), openapi3.SetSchemaErrorMessageCustomizer(schemaErrorText)); err != nil {
		return fmt.Errorf("the 405 body does not match Error405: %w", err)
	}
	return nil
}

// bearerPresent stands for the server's authentication: the document only
// says that a bearer token is sent; whether it is valid is the server's
// answer to check.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, tok, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// schemaErrorText says where in a body a value breaks the schema, without
// dumping the schema and the whole value.
func schemaErrorText(err *openapi3.SchemaError) string {
	at := "/" + strings.Join(err.JSONPointer(), "/")
	v, _ := json.Marshal(err.Value)
	if len(v) > 120 {
		v = append(v[:117], "..."...)
	}
	return fmt.Sprintf("at %s: %s (value %s)", at, err.Reason, v)
}

// errorCode is the code of an error body, or "".
func errorCode(body []byte) string {
	var eb struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &eb)
	return eb.Error.Code
}

// operations lists the document's operations as "METHOD /path".
func (d *apiDoc) operations() []string {
	var ops []string
	for path, item := range d.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// report checks every exchange and writes what contradicts the document,
// and which operations no call answered with success, to w. It returns
// false if any exchange contradicts the document.
func (d *apiDoc) report(w io.Writer, calls []exchange) bool {
	type key struct {
		op     string
		status int
		err    string
	}
	type problem struct {
		key
		method, path, err string
	}
	var problems []problem
	count := map[key]int{}
	succeeded, called := map[string]bool{}, map[string]bool{}
	for _, ex := range calls {
		op, err := d.check(ex)
		if op != "" {
			called[op] = true
			if ex.Status < 300 {
				succeeded[op] = true
			}
		}
		if err == nil {
			continue
		}
		// One line per operation, status and error, with the first path and
		// value seen.
		k := key{op: op, status: ex.Status, err: err.Error()}
		if i := strings.LastIndex(k.err, " (value "); i >= 0 {
			k.err = k.err[:i]
		}
		if op == "" {
			k.op = ex.Method + " " + ex.URL.Path
		}
		if count[k] == 0 {
			problems = append(problems, problem{key: k, method: ex.Method, path: ex.URL.RequestURI(), err: err.Error()})
		}
		count[k]++
	}
	if len(calls) == 0 {
		return true
	}
	var missing []string
	for _, op := range d.operations() {
		switch {
		case !called[op]:
			missing = append(missing, op+" (never called)")
		case !succeeded[op]:
			missing = append(missing, op+" (only errors)")
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "openapi: warning: %d documented operations got no successful call from the suite:\n", len(missing))
		for _, m := range missing {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
	if len(problems) == 0 {
		fmt.Fprintf(w, "openapi: %d calls checked against %s; all match\n", len(calls), openAPIFile)
		return true
	}
	fmt.Fprintf(w, "openapi: FAIL: calls that contradict %s:\n", openAPIFile)
	for _, p := range problems {
		fmt.Fprintf(w, "  %s %s -> %d (%s, %d calls): %s\n", p.method, p.path, p.status, p.op, count[p.key], p.err)
	}
	return false
}

// The check catches a response that drifts from the document, so that a
// green suite means the document holds.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	d, err := loadAPIDoc(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	const id = "req_01jd7x0m8kq3w5z9v2c4b6n8tr"
	request := `{"id":"` + id + `","flow":"prod-access","requester":{"id":"usr_01jd7x0m8kq3w5z9v2c4b6n8ts","email":"bob@example.com"},` +
		`"created_by":{"email":"bob@example.com"},"source":"api","fields":{"reason":"x","duration":3600,"target_id":"prod-db"},` +
		`"target_id":"prod-db","duration_seconds":3600,"status":"pending","expires_at":"2026-11-25T10:00:00Z",` +
		`"created_at":"2026-11-25T09:00:00Z","updated_at":"2026-11-25T09:00:00Z","version":1,"event_seq":1}`
	get := func(path string, status int, body string, header ...string) exchange {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		return exchange{Method: "GET", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:1", Path: path},
			ReqHeader: http.Header{"Authorization": {"Bearer t"}}, Status: status, RespHeader: h, RespBody: []byte(body)}
	}
	create := func(reqBody string, status int, body string) exchange {
		ex := get("/v1/requests", status, body)
		ex.Method, ex.ReqBody = "POST", []byte(reqBody)
		return ex
	}
	tests := []struct {
		name    string
		give    exchange
		wantErr string
	}{
		{name: "a request as the server answers it", give: get("/v1/requests/"+id, 200, request)},
		{name: "an unknown status", give: get("/v1/requests/"+id, 200, strings.Replace(request, `"pending"`, `"pendng"`, 1)),
			wantErr: "at /status"},
		{name: "a required property left out", give: get("/v1/requests/"+id, 200, strings.Replace(request, `,"event_seq":1`, ``, 1)),
			wantErr: "event_seq"},
		{name: "a time that is not RFC 3339", give: get("/v1/requests/"+id, 200, strings.Replace(request, `"2026-11-25T10:00:00Z"`, `"tomorrow"`, 1)),
			wantErr: "at /expires_at"},
		{name: "a field value of no field type", give: get("/v1/requests/"+id, 200, strings.Replace(request, `"reason":"x"`, `"reason":{"text":"x"}`, 1)),
			wantErr: "at /fields/reason"},
		{name: "a status the operation does not answer", give: get("/v1/requests/"+id, 418, `{}`),
			wantErr: "status is not supported"},
		{name: "an error code under the wrong status", give: get("/v1/requests/"+id, 404, `{"error":{"code":"not_pending","message":"no"}}`),
			wantErr: "at /error/code"},
		{name: "an error without a message", give: get("/v1/requests/"+id, 404, `{"error":{"code":"request_not_found"}}`),
			wantErr: "message"},
		{name: "429 without Retry-After", give: get("/v1/flows", 429, `{"error":{"code":"rate_limited","message":"slow down"}}`),
			wantErr: "Retry-After"},
		{name: "429 with Retry-After", give: get("/v1/flows", 429, `{"error":{"code":"rate_limited","message":"slow down"}}`, "Retry-After", "1")},
		{name: "an unknown route answered 404 route_not_found", give: get("/v1/nope", 404, `{"error":{"code":"route_not_found","message":"There is no GET /v1/nope."}}`)},
		{name: "an unknown route answered 200", give: get("/v1/nope", 200, `{}`), wantErr: "the document has no GET /v1/nope"},
		{name: "a body the document refuses, accepted", give: create(`{"flow":"prod-access"}`, 202, request),
			wantErr: "the server accepted a request the document refuses"},
		{name: "a body the document refuses, refused", give: create(`{"flow":"prod-access"}`, 422, `{"error":{"code":"missing_fields","message":"no","details":{"user_email":"is required"}}}`)},
		{name: "a body the document accepts, refused as bad_json", give: create(`{"flow":"prod-access","user_email":"bob@example.com"}`, 400, `{"error":{"code":"bad_json","message":"no"}}`),
			wantErr: "the document accepts a body the server refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.check(tt.give)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("check = %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("check = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
