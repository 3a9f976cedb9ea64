package okta

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNextLink: any Link header Okta (or something posing as it) sends is
// read without a panic, and a next link found is part of the header.
func FuzzNextLink(f *testing.F) {
	f.Add(`<https://example.okta.com/api/v1/users/00u1/groups?after=00g2&limit=2>; rel="next"`)
	f.Add(`<https://example.okta.com/x>; rel="self", <https://example.okta.com/y>; rel=next`)
	f.Add(`<>;;rel=`)
	f.Fuzz(func(t *testing.T, v string) {
		got := nextLink(http.Header{"Link": {v}})
		if got != "" && !strings.Contains(v, got) {
			t.Errorf("next %q is not in the header %q", got, v)
		}
	})
}

// FuzzSummary: an error body is shown on one bounded line.
func FuzzSummary(f *testing.F) {
	f.Add([]byte(`{"errorCode":"E0000011","errorSummary":"Invalid token provided","errorLink":"E0000011","errorId":"oae1","errorCauses":[]}`), 401)
	f.Add([]byte("<html>\n<body>Bad gateway</body></html>"), 502)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		s := summary(body, status)
		if strings.ContainsAny(s, "\n\r") || !utf8.ValidString(s) || len(s) > 400 {
			t.Errorf("summary %q is not one bounded line", s)
		}
	})
}

func TestSummaryBoundsTheErrorCode(t *testing.T) {
	long := `{"errorCode":"` + strings.Repeat("E", 500) + `\nX","errorSummary":"s"}`
	if s := summary([]byte(long), 400); strings.Contains(s, "EEEE") || strings.Contains(s, "\n") {
		t.Errorf("summary %q shows an unbounded error code", s)
	}
}
