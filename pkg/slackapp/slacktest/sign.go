// Package slacktest lets tests act as Slack: it signs requests the way Slack
// does and serves a recording fake of the Slack Web API on loopback. It is
// an ordinary package, not a _test file, so any package's tests may use it.
package slacktest

import (
	"strconv"
	"time"

	"github.com/latchhq/latch/pkg/slackapp"
)

// Sign returns the X-Slack-Request-Timestamp and X-Slack-Signature header
// values Slack would send with body at ts, signed with secret.
func Sign(secret []byte, ts time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	return timestamp, slackapp.Signature(secret, timestamp, body)
}
