// Package signing is the one signature scheme Latch uses for everything it
// sends out: the webhook strategy, hooks and the HTTP audit destination.
//
// A signed request carries two headers:
//
//	X-Latch-Timestamp: 1767225600
//	X-Latch-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret>
//
// The timestamp is in unix seconds. It is part of the signed text, so a
// receiver that refuses old timestamps (Verify does) cannot be fooled by a
// replayed request. Receivers written in Go call Verify on the raw body before
// they parse it; docs/webhook.md shows how to check a signature elsewhere.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderTimestamp = "X-Latch-Timestamp"
	HeaderSignature = "X-Latch-Signature"
)

// DefaultTolerance is how far a timestamp may be from the receiver's clock
// when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// prefix introduces the signature's hex digest, naming the algorithm.
const prefix = "sha256="

// Errors returned by Verify, wrapped with details; test with errors.Is.
var (
	// ErrMissing: a signature header is absent or empty.
	ErrMissing = errors.New("signature header missing")
	// ErrMalformed: a signature header is present but not in the expected form.
	ErrMalformed = errors.New("signature header malformed")
	// ErrStale: the timestamp is further from now than the tolerance, in
	// either direction.
	ErrStale = errors.New("signature timestamp out of tolerance")
	// ErrMismatch: the signature does not match the body and secret.
	ErrMismatch = errors.New("signature mismatch")
)

// Signature returns the X-Latch-Signature value for body sent at timestamp
// (unix seconds): "sha256=" followed by the lower-case hex HMAC-SHA256 of
// "<timestamp>.<body>" keyed with secret.
func Signature(secret []byte, timestamp int64, body []byte) string {
	return prefix + hex.EncodeToString(mac(secret, strconv.FormatInt(timestamp, 10), body))
}

// mac is the HMAC-SHA256 of "<timestamp>.<body>", where timestamp is the
// header's text exactly as sent.
func mac(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign sets the X-Latch-Timestamp and X-Latch-Signature headers of req for
// body (which must be exactly the bytes req sends) at time now, replacing any
// earlier values.
func Sign(req *http.Request, body, secret []byte, now time.Time) {
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	SignHeader(req.Header, body, secret, now)
}

// SignHeader is Sign for a bare header set, for senders that build requests
// some other way.
func SignHeader(h http.Header, body, secret []byte, now time.Time) {
	ts := now.Unix()
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Signature(secret, ts, body))
}

// Verify checks that header carries a valid signature of body with secret,
// made no further than tolerance from now (a tolerance of zero or less means
// DefaultTolerance). Call it on the raw body, before parsing it.
//
// It returns nil for a good signature, and otherwise an error wrapping
// ErrMissing (a header is absent), ErrMalformed (a header is not in the
// expected form, or appears more than once), ErrStale (the timestamp is too
// old or too far in the future) or ErrMismatch (the body, timestamp or secret
// differ from the signer's). The digests are compared in constant time.
func Verify(header http.Header, body, secret []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	tsText, err := single(header, HeaderTimestamp)
	if err != nil {
		return err
	}
	sigText, err := single(header, HeaderSignature)
	if err != nil {
		return err
	}
	ts, err := parseTimestamp(tsText)
	if err != nil {
		return err
	}
	got, err := parseSignature(sigText)
	if err != nil {
		return err
	}
	// Compare in seconds so that no timestamp, however large, overflows.
	skew := now.Unix() - ts
	limit := int64(tolerance / time.Second)
	switch {
	case skew > limit:
		return fmt.Errorf("%w: %s is %ds old, more than the %s allowed", ErrStale, HeaderTimestamp, skew, tolerance)
	case skew < -limit:
		return fmt.Errorf("%w: %s is %ds in the future, more than the %s allowed", ErrStale, HeaderTimestamp, -skew, tolerance)
	}
	if !hmac.Equal(got, mac(secret, tsText, body)) {
		return fmt.Errorf("%w: the body, timestamp or secret differ from the sender's", ErrMismatch)
	}
	return nil
}

// single returns the one value of header name.
func single(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch {
	case len(vs) == 0 || (len(vs) == 1 && vs[0] == ""):
		return "", fmt.Errorf("%w: %s", ErrMissing, name)
	case len(vs) > 1:
		return "", fmt.Errorf("%w: %s appears %d times", ErrMalformed, name, len(vs))
	}
	return vs[0], nil
}

// maxTimestampDigits bounds the timestamp header: 19 digits hold any int64.
const maxTimestampDigits = 19

func parseTimestamp(s string) (int64, error) {
	bad := fmt.Errorf("%w: %s must be unix seconds (digits only)", ErrMalformed, HeaderTimestamp)
	if len(s) > maxTimestampDigits {
		return 0, bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, bad
	}
	return ts, nil
}

func parseSignature(s string) ([]byte, error) {
	hexDigest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(hexDigest) != hex.EncodedLen(sha256.Size) {
		return nil, fmt.Errorf("%w: %s must be sha256= followed by %d hex digits", ErrMalformed, HeaderSignature, hex.EncodedLen(sha256.Size))
	}
	digest, err := hex.DecodeString(hexDigest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s must be sha256= followed by %d hex digits", ErrMalformed, HeaderSignature, hex.EncodedLen(sha256.Size))
	}
	return digest, nil
}
