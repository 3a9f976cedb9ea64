package slackapp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// Headers Slack signs its requests with.
const (
	HeaderTimestamp = "X-Slack-Request-Timestamp"
	HeaderSignature = "X-Slack-Signature"
)

// MaxSkew is how far a request's timestamp may be from the clock, in either
// direction, before the request is refused as a possible replay.
const MaxSkew = 5 * time.Minute

// signatureVersion prefixes both the signed base string and the header value.
const signatureVersion = "v0"

// Reasons CheckSignature refuses a request. Each is wrapped in a
// *latch.Error of kind unauthorized.
var (
	ErrMissingTimestamp  = errors.New("no " + HeaderTimestamp + " header")
	ErrMissingSignature  = errors.New("no " + HeaderSignature + " header")
	ErrBadTimestamp      = errors.New("the timestamp is not a number of seconds")
	ErrStaleTimestamp    = errors.New("the timestamp is more than 5 minutes from now")
	ErrBadSignature      = errors.New("the signature is not v0= and 64 hex digits")
	ErrSignatureMismatch = errors.New("the signature does not match the body")
)

// Signature returns the X-Slack-Signature value Slack sends for body at
// timestamp: "v0=" and the hex HMAC-SHA256, keyed by the signing secret, of
// "v0:<timestamp>:<body>".
func Signature(secret []byte, timestamp string, body []byte) string {
	return signatureVersion + "=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(signatureVersion + ":" + timestamp + ":"))
	h.Write(body)
	return h.Sum(nil)
}

// CheckSignature reports whether signature is Slack's signature of body at
// timestamp, and whether timestamp is within MaxSkew of now. It returns nil
// or a *latch.Error of kind unauthorized wrapping one of ErrMissingTimestamp,
// ErrMissingSignature, ErrBadTimestamp, ErrStaleTimestamp, ErrBadSignature or
// ErrSignatureMismatch. The signatures are compared in constant time.
func CheckSignature(secret []byte, now time.Time, timestamp, signature string, body []byte) error {
	if err := checkSignature(secret, now, timestamp, signature, body); err != nil {
		return &latch.Error{Kind: latch.KindUnauthorized, Code: "invalid_signature",
			Message: "The request's Slack signature could not be verified.", Err: err}
	}
	return nil
}

func checkSignature(secret []byte, now time.Time, timestamp, signature string, body []byte) error {
	if timestamp == "" {
		return ErrMissingTimestamp
	}
	if signature == "" {
		return ErrMissingSignature
	}
	sec, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStaleTimestamp
	}
	hexSig, ok := strings.CutPrefix(signature, signatureVersion+"=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSignature
	}
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return ErrSignatureMismatch
	}
	return nil
}

// parseTimestamp accepts only what Slack sends: decimal digits, seconds
// since the Unix epoch.
func parseTimestamp(s string) (int64, error) {
	if len(s) > 12 {
		return 0, ErrBadTimestamp
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrBadTimestamp
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrBadTimestamp
	}
	return sec, nil
}

// Verify serves next only requests Slack signed with secret. It reads the
// raw body, at most maxBody bytes (413 beyond), checks the timestamp against
// clock and the signature over the raw body, and answers 401 with a JSON
// error on any failure without calling next. On success next sees the same
// body, unread. A nil clock is the system clock; maxBody must be positive.
func Verify(secret []byte, clock latch.Clock, maxBody int64, next http.Handler) http.Handler {
	if clock == nil {
		clock = latch.SystemClock
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timestamp := r.Header.Get(HeaderTimestamp)
		signature := r.Header.Get(HeaderSignature)
		if timestamp == "" || signature == "" {
			// Refuse before reading a body nobody signed.
			writeError(w, http.StatusUnauthorized, CheckSignature(secret, clock.Now(), timestamp, signature, nil))
			return
		}
		if r.ContentLength > maxBody {
			writeError(w, http.StatusRequestEntityTooLarge, tooLarge(maxBody))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				writeError(w, http.StatusRequestEntityTooLarge, tooLarge(maxBody))
				return
			}
			writeError(w, http.StatusBadRequest, &latch.Error{Kind: latch.KindInvalid, Code: "bad_request",
				Message: "The request body could not be read.", Err: err})
			return
		}
		if err := CheckSignature(secret, clock.Now(), timestamp, signature, body); err != nil {
			writeError(w, http.StatusUnauthorized, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		next.ServeHTTP(w, r)
	})
}

func tooLarge(max int64) error {
	return &latch.Error{Kind: latch.KindInvalid, Code: "body_too_large",
		Message: "The request body is larger than " + strconv.FormatInt(max, 10) + " bytes."}
}

// errorBody is the JSON of an error answer, the same shape as the API's:
// {"error":{"code","message"}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, err error) {
	var b errorBody
	b.Error.Code = latch.ErrorCodeOf(err)
	b.Error.Message = latch.ErrorMessageOf(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(b)
}
