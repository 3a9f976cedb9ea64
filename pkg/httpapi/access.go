package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/ids"
	"github.com/latchhq/latch/pkg/latch"
)

// RequestIDHeader carries a call's id: the caller's, when it sends a short
// one of letters, digits, '-', '_' and '.', or one the server makes. The
// answer carries it back, and the access log and error logs name it.
const RequestIDHeader = "X-Request-Id"

var goodRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// callInfo is what the access log learns of a call while it is served.
type callInfo struct {
	id        string
	principal string
	tokenID   string
}

type callKey struct{}

// noteCaller tells the access log who the call is from.
func noteCaller(r *http.Request, p Principal) {
	if ci, ok := r.Context().Value(callKey{}).(*callInfo); ok {
		ci.principal, ci.tokenID = p.Name, p.TokenID
	}
}

// RequestID returns the id of the call ctx belongs to ("" outside a call).
func RequestID(ctx context.Context) string {
	if ci, ok := ctx.Value(callKey{}).(*callInfo); ok {
		return ci.id
	}
	return ""
}

// statusWriter remembers the status and size of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// quiet routes are probed often; their calls are logged at debug level.
var quiet = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true}

// access gives each call an id, and once it is answered logs one line —
// method, route pattern, status, duration, principal, request id; never a
// token, a query or a body — and reports it to s.Observe.
func (s *Server) access(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ci := &callInfo{id: r.Header.Get(RequestIDHeader)}
		if !goodRequestID.MatchString(ci.id) {
			ci.id = ids.New("call")
		}
		w.Header().Set(RequestIDHeader, ci.id)
		r = r.WithContext(context.WithValue(r.Context(), callKey{}, ci))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := Route(r)
		d := time.Since(start)
		if s.Observe != nil {
			s.Observe(route, sw.status, d)
		}
		level := slog.LevelInfo
		if quiet[route] && sw.status < 400 {
			level = slog.LevelDebug
		}
		s.Log.LogAttrs(r.Context(), level, "api call",
			slog.String("method", r.Method), slog.String("route", route), slog.Int("status", sw.status),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.Int64("bytes", sw.bytes),
			slog.String("principal", ci.principal), slog.String("token_id", ci.tokenID), slog.String("request_id", ci.id))
	})
}

// Route is the pattern that served r ("GET /v1/requests/{id}"), or
// "unmatched" for a call no route took: never the raw path, which holds ids.
func Route(r *http.Request) string {
	if r.Pattern == "" || r.Pattern == "/" {
		return "unmatched"
	}
	return r.Pattern
}

// probeMethods are tried to find which methods a path allows.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// notRouted answers a call no route took: 405 with Allow when the path has
// routes for other methods, 404 otherwise.
func (s *Server) notRouted(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		closeUnread(w, r)
		var allow []string
		for _, m := range probeMethods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, r, s.Log, &latch.Error{Kind: latch.KindInvalid, Code: "method_not_allowed",
				Message: r.Method + " is not allowed on " + r.URL.Path + "; use " + strings.Join(allow, " or ") + ".",
				Details: map[string]any{"allow": allow}})
			return
		}
		writeError(w, r, s.Log, latch.Errorf(latch.KindNotFound, "route_not_found", "There is no %s %s.", r.Method, r.URL.Path))
	}
}
