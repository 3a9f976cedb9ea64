package outbound

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Excerpt renders the start of a response body for an error message: the
// "error" (or "message") text of a JSON object, or else the body itself,
// on one line and at most maxErrorText bytes, after ": ". It is empty for an
// empty body, and says so when the body could not be read.
func Excerpt(head []byte, readErr error) string {
	text := string(head)
	var obj map[string]any
	if json.Unmarshal(head, &obj) == nil {
		for _, k := range []string{"error", "message"} {
			if s, ok := obj[k].(string); ok && s != "" {
				text = s
				break
			}
		}
	}
	text = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(text, "\uFFFD"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(text) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	switch {
	case text != "":
		return ": " + text
	case readErr != nil:
		return " (the answer could not be read)"
	}
	return ""
}
