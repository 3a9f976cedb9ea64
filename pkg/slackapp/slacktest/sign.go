// Package slacktest lets tests act as Slack: it signs requests the way Slack
// does and serves a recording fake of the Slack Web API on loopback. It is
// an ordinary package, not a _test file, so any package's tests may use it.
package slacktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Sign returns the X-Slack-Request-Timestamp and X-Slack-Signature header
// values Slack would send with body at ts, signed with secret.
func Sign(secret []byte, ts time.Time, body []byte) (timestamp, signature string) {
	timestamp = strconv.FormatInt(ts.Unix(), 10)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("v0:" + timestamp + ":"))
	h.Write(body)
	return timestamp, "v0=" + hex.EncodeToString(h.Sum(nil))
}
