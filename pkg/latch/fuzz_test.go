package latch_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

// FuzzParseDuration checks that ParseDuration never panics, accepts only
// positive whole seconds, agrees with the duration field, and reads back what
// FormatDuration writes.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30m", "4h", "1d", "90s", "1h30m", " 2h ", "99999d", "100000d", "0m", "-1h", "1.5h",
		"abc", "1x", "", "d", "1e3s", "+1h", "9223372036s", "0x10m"} {
		f.Add(s)
	}
	dur := latch.Field{Name: "duration", Type: latch.FieldDuration}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := latch.ParseDuration(s)
		n, nerr := dur.Normalize(s)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("ParseDuration(%q) error %v, but the duration field says %v", s, err, nerr)
		}
		if err != nil {
			return
		}
		if d <= 0 || d%time.Second != 0 {
			t.Fatalf("ParseDuration(%q) = %v, want a positive whole number of seconds", s, d)
		}
		if n != int64(d/time.Second) {
			t.Fatalf("the duration field reads %q as %v, ParseDuration as %v", s, n, d)
		}
		out := latch.FormatDuration(d)
		if strings.ContainsAny(out, ". ") {
			t.Fatalf("FormatDuration(%v) = %q", d, out)
		}
		// FormatDuration writes days from 100000 on, which ParseDuration
		// refuses; below that, what it writes reads back.
		if d >= 100000*24*time.Hour {
			return
		}
		back, err := latch.ParseDuration(out)
		if err != nil {
			t.Fatalf("ParseDuration(FormatDuration(%v) = %q): %v", d, out, err)
		}
		if back != d {
			t.Fatalf("%q read as %v, written as %q, read back as %v", s, d, out, back)
		}
	})
}

// FuzzFieldsUnmarshal checks that decoding Fields never panics and that what
// decodes, encoded and decoded again, is the same value and the same JSON.
func FuzzFieldsUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `{"reason":"x","duration":3600,"ok":true}`, `{"l":["a","b"]}`, `{"l":[1,2.0,3e0]}`, `{"l":[]}`,
		`{"l":["a",1]}`, `{"l":[1,"a"]}`, `{"l":[1,1.5]}`, `{"n":1e19}`, `{"n":-0.0}`, `{"n":1e400}`, `{"o":{"n":1.0}}`,
		`{"l":[[1],["a"]]}`, `{"n":9223372036854775807}`, `{"n":-9223372036854775808.0}`, `[1]`, `"x"`, `{"a":1,"a":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var first latch.Fields
		if err := json.Unmarshal(b, &first); err != nil {
			return
		}
		enc, err := json.Marshal(first)
		if err != nil {
			t.Fatalf("Marshal(%#v) from %q: %v", first, b, err)
		}
		var second latch.Fields
		if err := json.Unmarshal(enc, &second); err != nil {
			t.Fatalf("Unmarshal(%s), encoded from %q: %v", enc, b, err)
		}
		if d := cmp.Diff(first, second); d != "" {
			t.Fatalf("%q decoded, encoded as %s and decoded again differs (-first +second):\n%s", b, enc, d)
		}
		again, err := json.Marshal(second)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", second, err)
		}
		if !bytes.Equal(enc, again) {
			t.Fatalf("encodings differ: %s then %s", enc, again)
		}
	})
}
