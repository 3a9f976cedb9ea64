package slackapp

import (
	"net/url"

	"github.com/latchhq/latch/pkg/slackapp/blockkit"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Slack's limits, from blockkit, the one place that knows them; every
// builder in this package keeps to them.
const (
	maxSectionText      = blockkit.LimitSectionText
	maxSectionFieldText = blockkit.LimitSectionField
	maxSectionFields    = blockkit.LimitSectionFields
	maxHeaderText       = blockkit.LimitHeaderText
	maxContextText      = blockkit.LimitContextText
	maxContextElements  = blockkit.LimitContextItems
	maxLabel            = blockkit.LimitLabel
	maxHint             = blockkit.LimitHint
	maxTitle            = blockkit.LimitTitle // a modal's title, submit and close
	maxOptionText       = blockkit.LimitOptionText
	maxOptionValue      = blockkit.LimitOptionValue
	maxStaticOptions    = blockkit.LimitOptions // more go to an external select
	maxModalBlocks      = blockkit.LimitModalBlocks
	maxID               = blockkit.LimitID
	maxPlaceholder      = blockkit.LimitPlaceholder
	maxButtonText       = blockkit.LimitButtonText
	maxButtonValue      = blockkit.LimitButtonValue
	maxInitialValue     = blockkit.LimitInitialValue
	maxConfirmTitle     = blockkit.LimitConfirmTitle
	maxConfirmText      = blockkit.LimitConfirmText
	maxConfirmButton    = blockkit.LimitConfirmButtons
	maxErrorText        = blockkit.LimitErrorText
	maxMessageText      = blockkit.LimitReadableText
)

// ellipsis marks where text was cut.
const ellipsis = "…"

var mdEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape makes text that came from outside Latch (field values, reasons,
// labels, names, escalator and hook messages) safe in mrkdwn: Slack reads
// only &, < and > as control characters, so with those escaped a value
// like "<!channel>" is shown, not acted on. Latch's own mentions, links
// and dates are built with mention, link and slackDate.
func escape(s string) string { return mdEscaper.Replace(s) }

var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// mention is a real mention of the Slack user id, which Slack shows as
// their name; anything that is not a Slack user id is shown, escaped, as
// the text it is.
func mention(id string) string {
	if slackUserID.MatchString(id) {
		return "<@" + id + ">"
	}
	return escape(id)
}

// link is a link to an http(s) URL showing label (escaped); a URL Slack
// could misread (another scheme, or holding |, < or >) is shown as the
// escaped label alone.
func link(rawURL, label string) string {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(rawURL, "|<> ") {
		return escape(label)
	}
	return "<" + rawURL + "|" + escape(label) + ">"
}

// clipMrkdwn shortens mrkdwn text s to at most n characters, cutting on a
// character boundary that is not inside a mention, link or date (<...>) or
// an escaped character (&...;), and ending with "…" and more (a pointer to
// the full text, e.g. " (see `latch get ID`)"). s within n is returned as
// is.
func clipMrkdwn(s string, n int, more string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	tail := ellipsis + more
	keep := n - utf8.RuneCountInString(tail)
	if keep < 0 { // no room for the pointer
		tail, keep = ellipsis, n-1
	}
	cut := byteIndexOfRune(s, keep)
	for prefixOpen(s[:cut]) {
		cut = lastSafe(s[:cut]) // strictly smaller: the opener is inside s[:cut]
	}
	return strings.TrimRightFunc(s[:cut], isSpace) + tail
}

func isSpace(r rune) bool { return r == ' ' || r == '\n' || r == '\t' }

// byteIndexOfRune is the byte offset of the n-th rune of s (len(s) past the
// end).
func byteIndexOfRune(s string, n int) int {
	i := 0
	for j := range s {
		if i == n {
			return j
		}
		i++
	}
	return len(s)
}

// prefixOpen reports whether s ends inside a <...> token or an &...;
// entity.
func prefixOpen(s string) bool {
	inTag, inEntity := false, false
	for _, r := range s {
		switch {
		case r == '<':
			inTag = true
		case r == '>':
			inTag = false
		case r == '&' && !inTag:
			inEntity = true
		case r == ';':
			inEntity = false
		}
	}
	return inTag || inEntity
}

// lastSafe is the byte offset in s where the last unclosed token or
// entity opens.
func lastSafe(s string) int {
	return max(strings.LastIndexByte(s, '<'), strings.LastIndexByte(s, '&'), 0)
}

// clipPlain shortens plain text s to at most n characters, with "…" where
// it was cut. Plain text is shown as is, so any character boundary is
// safe.
func clipPlain(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return strings.TrimRightFunc(s[:byteIndexOfRune(s, n-1)], isSpace) + ellipsis
}
