package latch_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// TestFieldsJSONRoundTrip checks that normalized fields read back from JSON
// equal what was written, as a stored request must.
func TestFieldsJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		give latch.Fields
	}{
		{name: "nil", give: nil},
		{name: "empty", give: latch.Fields{}},
		{name: "string", give: latch.Fields{"reason": "incident 42"}},
		{name: "int", give: latch.Fields{"n": int64(-7)}},
		{name: "large int", give: latch.Fields{"n": int64(1) << 62}},
		{name: "bool", give: latch.Fields{"ok": true}},
		{name: "duration seconds", give: latch.Fields{"duration": int64(14400)}},
		{name: "strings", give: latch.Fields{"users": []string{"U1", "U2"}}},
		{name: "ints", give: latch.Fields{"ports": []int64{22, 443}}},
		{name: "empty strings", give: latch.Fields{"users": []string{}}},
		{name: "every type together", give: latch.Fields{"s": "x", "i": int64(1), "b": false, "ss": []string{"a"}, "is": []int64{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.give)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			var got latch.Fields
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			diff(t, "fields read back from "+string(b), tt.give, got)
		})
	}
}

func TestFieldsUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    latch.Fields
		wantErr bool
	}{
		{name: "null", give: `null`, want: nil},
		{name: "whole numbers are int64", give: `{"n": 3}`, want: latch.Fields{"n": int64(3)}},
		{name: "whole numbers written with a fraction are int64", give: `{"n": 3.0}`, want: latch.Fields{"n": int64(3)}},
		{name: "whole numbers written with an exponent are int64", give: `{"n": 1e3}`, want: latch.Fields{"n": int64(1000)}},
		{name: "fractions are float64", give: `{"n": 2.5}`, want: latch.Fields{"n": 2.5}},
		{name: "numbers beyond int64 are float64", give: `{"n": 1e19}`, want: latch.Fields{"n": 1e19}},
		{name: "lists of strings are []string", give: `{"l": ["a", "b"]}`, want: latch.Fields{"l": []string{"a", "b"}}},
		{name: "lists of whole numbers are []int64", give: `{"l": [1, 2.0]}`, want: latch.Fields{"l": []int64{1, 2}}},
		{name: "an empty list is []string", give: `{"l": []}`, want: latch.Fields{"l": []string{}}},
		{name: "a list of strings and numbers stays mixed", give: `{"l": ["a", 1]}`,
			want: latch.Fields{"l": []any{"a", json.Number("1")}}},
		{name: "a list of numbers and strings stays mixed", give: `{"l": [1, "a"]}`,
			want: latch.Fields{"l": []any{json.Number("1"), "a"}}},
		{name: "a list with a fraction stays mixed", give: `{"l": [1, 1.5]}`,
			want: latch.Fields{"l": []any{json.Number("1"), json.Number("1.5")}}},
		{name: "a list of bools stays as it is", give: `{"l": [true]}`, want: latch.Fields{"l": []any{true}}},
		{name: "strings and bools", give: `{"s": "x", "b": true, "z": null}`, want: latch.Fields{"s": "x", "b": true, "z": nil}},
		{name: "an array is not fields", give: `[1]`, wantErr: true},
		{name: "a string is not fields", give: `"x"`, wantErr: true},
		{name: "a number out of float64 range", give: `{"n": 1e400}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got latch.Fields
			err := json.Unmarshal([]byte(tt.give), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %#v, want an error", tt.give, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.give, err)
			}
			diff(t, "fields", tt.want, got)
		})
	}
}

// TestRequestJSONRoundTrip checks that a request read back from JSON, as a
// store keeps it, equals the one written.
func TestRequestJSONRoundTrip(t *testing.T) {
	give := active("r1", "g1", r1Start, r1End, approvedBy(decision(bob, at(time.Minute))),
		func(r *latch.Request) {
			r.Fields = latch.Fields{"reason": "x", "duration": int64(3600), "users": []string{"U1"}, "ports": []int64{22}, "ok": true}
			r.Failure = &latch.Failure{Code: "c", Message: "m", Stage: latch.StageEscalate}
			r.Decision = &latch.Decision{By: latch.Actor{Email: ann.Email, Bot: "ci"}, At: r1End, Reason: "done"}
		})
	b, err := json.Marshal(give)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var got latch.Request
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	diff(t, "request", give, got)
}
