package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchhq/latch/pkg/latch"
)

// CodeBadCursor is the error code (400) of a list's cursor that is not one
// the same list answered with: not a cursor at all, altered, or from a list
// with other filters.
const CodeBadCursor = "bad_cursor"

// maxCursor bounds the length of a cursor the API reads.
const maxCursor = 1024

// cursor is what a list's next token holds: where the page ended and which
// list it belongs to. The token is its JSON in unpadded base64url; clients
// treat it as opaque.
type cursor struct {
	V  int    `json:"v"`  // the format, 1
	At string `json:"at"` // the last request's CreatedAt, RFC 3339 with nanoseconds, UTC
	ID string `json:"id"` // the last request's ID
	// F is a digest of the list's filters (status, flow, user, since,
	// until) and the position, so that a cursor continues only the list it
	// came from and an edited one is refused.
	F string `json:"f"`
}

// listDigest is the digest a cursor carries for filters f at position k.
func listDigest(f latch.RequestFilter, k latch.RequestKey) string {
	var b strings.Builder
	for _, s := range []string{string(f.Status), f.Flow, latch.NormalizeEmail(f.User), stamp(f.Since), stamp(f.Until),
		stamp(k.CreatedAt), k.ID} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	sum := sha256.Sum256([]byte("latch list cursor v1\x00" + b.String()))
	return hex.EncodeToString(sum[:12])
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// encodeCursor is the next token of the list with filters f whose page
// ended with the request at k.
func encodeCursor(f latch.RequestFilter, k latch.RequestKey) string {
	b, _ := json.Marshal(cursor{V: 1, At: stamp(k.CreatedAt), ID: k.ID, F: listDigest(f, k)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the position a next token of the list with filters
// f continues from, or a CodeBadCursor error.
func decodeCursor(f latch.RequestFilter, token string) (latch.RequestKey, error) {
	bad := latch.Errorf(latch.KindInvalid, CodeBadCursor,
		"cursor must be the next of an earlier answer of this list, with the same status, flow, user, since and until.")
	if len(token) > maxCursor {
		return latch.RequestKey{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return latch.RequestKey{}, bad
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.V != 1 || c.ID == "" || !utf8.ValidString(c.ID) || strings.ContainsRune(c.ID, 0) {
		return latch.RequestKey{}, bad
	}
	at, err := time.Parse(time.RFC3339Nano, c.At)
	if err != nil {
		return latch.RequestKey{}, bad
	}
	k := latch.RequestKey{CreatedAt: at, ID: c.ID}
	if c.F != listDigest(f, k) {
		return latch.RequestKey{}, bad
	}
	return k, nil
}

// listRange reads the since, until and cursor parameters of a list into f.
func listRange(q url.Values, f *latch.RequestFilter) error {
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return latch.Errorf(latch.KindInvalid, "bad_request", "%s must be a time such as 2026-11-25T09:00:00Z.", p.name)
			}
			*p.t = t
		}
	}
	if v := q.Get("cursor"); v != "" {
		k, err := decodeCursor(*f, v)
		if err != nil {
			return err
		}
		f.Before = k
	}
	return nil
}
