package outbound

import (
	"errors"
	"strings"
	"testing"
)

func TestExcerpt(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		readErr error
		want    string
	}{
		{name: "an empty body says nothing", give: "", want: ""},
		{name: "a JSON error field", give: `{"error":"no such group"}`, want: ": no such group"},
		{name: "a JSON message field", give: `{"message":"suspended"}`, want: ": suspended"},
		{name: "error wins over message", give: `{"message":"m","error":"e"}`, want: ": e"},
		{name: "a JSON object without either is shown as is", give: `{"code":7}`, want: `: {"code":7}`},
		{name: "a non-text error field is shown as is", give: `{"error":{"code":7}}`, want: `: {"error":{"code":7}}`},
		{name: "whitespace and control characters fold to single spaces", give: "a\tb\r\n\x00c  d\n", want: ": a b c d"},
		{name: "invalid UTF-8 is replaced", give: "bad \xff byte", want: ": bad \uFFFD byte"},
		{name: "a long body is cut at 200 bytes", give: strings.Repeat("y", 300), want: ": " + strings.Repeat("y", 200) + "…"},
		{name: "a cut never splits a character", give: strings.Repeat("y", 199) + "é" + "zzz", want: ": " + strings.Repeat("y", 199) + "…"},
		{name: "an unreadable empty answer says so", give: "", readErr: errors.New("reset"), want: " (the answer could not be read)"},
		{name: "what could be read is shown", give: "partial", readErr: errors.New("reset"), want: ": partial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Excerpt([]byte(tt.give), tt.readErr); got != tt.want {
				t.Errorf("Excerpt(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}
