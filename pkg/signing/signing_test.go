package signing_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/signing"
)

var (
	secret = []byte("test-secret")
	body   = []byte(`{"hello":"world"}`)
	signed = time.Unix(1767225600, 0).UTC()
)

// The vector was computed independently with:
//
//	printf '%s' '1767225600.{"hello":"world"}' | openssl dgst -sha256 -hmac 'test-secret' -hex
const vector = "sha256=adb73f4965c2de3ba36a1ece69109fa5109777bdc9ca68c576458eb8004a2ed5"

func TestSignatureMatchesOpenSSL(t *testing.T) {
	if got := signing.Signature(secret, signed.Unix(), body); got != vector {
		t.Errorf("Signature = %s, want %s", got, vector)
	}
}

func TestSignSetsBothHeaders(t *testing.T) {
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(signing.HeaderSignature, "sha256=stale")
	signing.Sign(req, body, secret, signed)
	if got := req.Header.Get(signing.HeaderTimestamp); got != "1767225600" {
		t.Errorf("%s = %q, want 1767225600", signing.HeaderTimestamp, got)
	}
	if got := req.Header.Values(signing.HeaderSignature); len(got) != 1 || got[0] != vector {
		t.Errorf("%s = %q, want [%s]", signing.HeaderSignature, got, vector)
	}
}

func TestSignNilHeader(t *testing.T) {
	req := &http.Request{}
	signing.Sign(req, body, secret, signed)
	if req.Header.Get(signing.HeaderSignature) != vector {
		t.Errorf("Sign did not set the signature on a request without headers")
	}
}

// headers returns a header set signed at the given time, then edited.
func headers(tb testing.TB, at time.Time, edit func(http.Header)) http.Header {
	tb.Helper()
	h := http.Header{}
	signing.SignHeader(h, body, secret, at)
	if edit != nil {
		edit(h)
	}
	return h
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name      string
		header    http.Header
		body      []byte
		secret    []byte
		now       time.Time
		tolerance time.Duration
		wantErr   error
	}{
		{name: "good signature", header: headers(t, signed, nil), now: signed},
		{name: "receiver clock a little ahead", header: headers(t, signed, nil), now: signed.Add(4 * time.Minute)},
		{name: "receiver clock a little behind", header: headers(t, signed, nil), now: signed.Add(-4 * time.Minute)},
		{name: "exactly at the tolerance", header: headers(t, signed, nil), now: signed.Add(5 * time.Minute)},
		{name: "upper-case hex is accepted", header: headers(t, signed, func(h http.Header) {
			h.Set(signing.HeaderSignature, "sha256="+upper(vector[len("sha256="):]))
		}), now: signed},
		{name: "tampered body", header: headers(t, signed, nil), body: []byte(`{"hello":"World"}`), now: signed, wantErr: signing.ErrMismatch},
		{name: "empty body", header: headers(t, signed, nil), body: []byte{}, now: signed, wantErr: signing.ErrMismatch},
		{name: "wrong secret", header: headers(t, signed, nil), secret: []byte("other-secret"), now: signed, wantErr: signing.ErrMismatch},
		{name: "timestamp changed after signing", header: headers(t, signed, func(h http.Header) {
			h.Set(signing.HeaderTimestamp, strconv.FormatInt(signed.Unix()+1, 10))
		}), now: signed, wantErr: signing.ErrMismatch},
		{name: "stale timestamp", header: headers(t, signed, nil), now: signed.Add(5*time.Minute + time.Second), wantErr: signing.ErrStale},
		{name: "future timestamp", header: headers(t, signed, nil), now: signed.Add(-6 * time.Minute), wantErr: signing.ErrStale},
		{name: "custom tolerance refuses", header: headers(t, signed, nil), now: signed.Add(31 * time.Second), tolerance: 30 * time.Second, wantErr: signing.ErrStale},
		{name: "custom tolerance accepts", header: headers(t, signed, nil), now: signed.Add(time.Hour), tolerance: 2 * time.Hour},
		{name: "huge timestamp is stale, not an overflow", header: headers(t, signed, func(h http.Header) {
			h.Set(signing.HeaderTimestamp, "9223372036854775807")
		}), now: signed, wantErr: signing.ErrStale},
		{name: "no headers", header: http.Header{}, now: signed, wantErr: signing.ErrMissing},
		{name: "no timestamp", header: headers(t, signed, func(h http.Header) { h.Del(signing.HeaderTimestamp) }), now: signed, wantErr: signing.ErrMissing},
		{name: "empty signature", header: headers(t, signed, func(h http.Header) { h.Set(signing.HeaderSignature, "") }), now: signed, wantErr: signing.ErrMissing},
		{name: "timestamp not a number", header: headers(t, signed, func(h http.Header) { h.Set(signing.HeaderTimestamp, "yesterday") }), now: signed, wantErr: signing.ErrMalformed},
		{name: "negative timestamp", header: headers(t, signed, func(h http.Header) { h.Set(signing.HeaderTimestamp, "-1767225600") }), now: signed, wantErr: signing.ErrMalformed},
		{name: "timestamp with spaces", header: headers(t, signed, func(h http.Header) { h.Set(signing.HeaderTimestamp, " 1767225600") }), now: signed, wantErr: signing.ErrMalformed},
		{name: "timestamp in milliseconds overflows", header: headers(t, signed, func(h http.Header) { h.Set(signing.HeaderTimestamp, "99999999999999999999") }), now: signed, wantErr: signing.ErrMalformed},
		{name: "two timestamps", header: headers(t, signed, func(h http.Header) { h.Add(signing.HeaderTimestamp, "1767225600") }), now: signed, wantErr: signing.ErrMalformed},
		{name: "two signatures", header: headers(t, signed, func(h http.Header) { h.Add(signing.HeaderSignature, vector) }), now: signed, wantErr: signing.ErrMalformed},
		{name: "no algorithm prefix", header: headers(t, signed, func(h http.Header) { h.Set(signing.HeaderSignature, vector[len("sha256="):]) }), now: signed, wantErr: signing.ErrMalformed},
		{name: "other algorithm", header: headers(t, signed, func(h http.Header) { h.Set(signing.HeaderSignature, "sha1="+vector[len("sha256="):]) }), now: signed, wantErr: signing.ErrMalformed},
		{name: "short digest", header: headers(t, signed, func(h http.Header) { h.Set(signing.HeaderSignature, vector[:len(vector)-2]) }), now: signed, wantErr: signing.ErrMalformed},
		{name: "not hex", header: headers(t, signed, func(h http.Header) { h.Set(signing.HeaderSignature, vector[:len(vector)-2]+"zz") }), now: signed, wantErr: signing.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, s := body, secret
			if tt.body != nil {
				b = tt.body
			}
			if tt.secret != nil {
				s = tt.secret
			}
			err := signing.Verify(tt.header, b, s, tt.now, tt.tolerance)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify: %v, want an error wrapping %q", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyErrorNeverContainsTheSignature(t *testing.T) {
	err := signing.Verify(headers(t, signed, nil), []byte("tampered"), secret, signed, 0)
	if err == nil {
		t.Fatal("Verify accepted a tampered body")
	}
	if s := err.Error(); strings.Contains(s, vector[len("sha256="):]) || strings.Contains(s, string(secret)) {
		t.Errorf("error %q leaks the signature or secret", s)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
