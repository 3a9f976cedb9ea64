package signing_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/signing"
)

// FuzzVerify feeds Verify arbitrary header values and bodies. It must never
// panic, must accept only a timestamp written as plain digits within the
// tolerance and the exact signature Signature computes for it, and must accept
// what SignHeader produced for the same body.
func FuzzVerify(f *testing.F) {
	f.Add("1767225600", vector, body)
	f.Add("1767225600", "sha256=", body)
	f.Add("", "", []byte(nil))
	f.Add("-1", "sha256=zz", []byte("x"))
	f.Add("99999999999999999999", vector+"00", body)
	f.Add("1767225600 ", " "+vector, body)
	f.Add("0x1", "SHA256="+vector[len("sha256="):], body)
	f.Add("+1767225600", vector, body)
	f.Fuzz(func(t *testing.T, ts, sig string, b []byte) {
		h := http.Header{}
		h.Set(signing.HeaderTimestamp, ts)
		h.Set(signing.HeaderSignature, sig)
		if err := signing.Verify(h, b, secret, signed, 0); err == nil {
			n, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil || strings.Trim(ts, "0123456789") != "" {
				t.Fatalf("accepted timestamp %q: want digits only", ts)
			}
			if strconv.FormatInt(n, 10) != ts {
				return // leading zeros: signed as written; Signature cannot produce it
			}
			if want := signing.Signature(secret, n, b); !strings.EqualFold(sig, want) {
				t.Fatalf("accepted signature %q, want %q", sig, want)
			}
		}

		good := http.Header{}
		signing.SignHeader(good, b, secret, signed)
		if err := signing.Verify(good, b, secret, signed, 0); err != nil {
			t.Fatalf("Verify refused what SignHeader produced: %v", err)
		}
	})
}
