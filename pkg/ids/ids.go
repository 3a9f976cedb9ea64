// Package ids makes Latch's identifiers: a short prefix naming the kind of
// thing ("req", "grt", "usr", "cmd", "tok") and a lower-case ULID, so ids sort
// by creation time and say what they name.
package ids

import (
	"strings"

	"github.com/oklog/ulid/v2"
)

// New returns a new unique, time-sortable id with the given prefix.
func New(prefix string) string {
	return prefix + "_" + strings.ToLower(ulid.Make().String())
}
