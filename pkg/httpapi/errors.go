package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/latchhq/latch/pkg/latch"
)

// ErrorBody is the JSON of every error answer: {"error":{"code","message","details"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a stable machine-readable code, a message a person can act
// on, and optional details (e.g. which fields are wrong).
type ErrorDetail struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// StatusOf maps an error to its HTTP status, once for the whole API.
func StatusOf(err error) int {
	var le *latch.Error
	if !errors.As(err, &le) {
		return http.StatusInternalServerError
	}
	switch le.Kind {
	case latch.KindInvalid:
		switch le.Code {
		case "method_not_allowed":
			return http.StatusMethodNotAllowed
		case "bad_json", "bad_request", "invalid_rule", CodeBadCursor:
			return http.StatusBadRequest
		case "body_too_large":
			return http.StatusRequestEntityTooLarge
		}
		return http.StatusUnprocessableEntity
	case latch.KindNotFound:
		return http.StatusNotFound
	case latch.KindConflict:
		return http.StatusConflict
	case latch.KindForbidden:
		return http.StatusForbidden
	case latch.KindUnauthorized:
		return http.StatusUnauthorized
	case latch.KindTooMany:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status := StatusOf(err)
	body := ErrorBody{Error: ErrorDetail{Code: latch.ErrorCodeOf(err), Message: latch.ErrorMessageOf(err)}}
	var le *latch.Error
	if errors.As(err, &le) {
		body.Error.Details = le.Details
	}
	if status == http.StatusUnauthorized {
		// RFC 6750: say how to authenticate; name the error when a token
		// was sent but refused.
		challenge := `Bearer realm="latch"`
		if _, sent := BearerToken(r); sent {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	if body.Error.Code == latch.CodeRuleError {
		// The person is told which rule failed; its admins learn why here.
		log.WarnContext(r.Context(), "a rule failed when it ran", "method", r.Method, "route", Route(r),
			"request_id", RequestID(r.Context()), "details", body.Error.Details, "err", err)
	}
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", Route(r), "request_id", RequestID(r.Context()), "err", err)
		body.Error = ErrorDetail{Code: "internal", Message: "Latch could not complete this; try again. The server log has the cause."}
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
