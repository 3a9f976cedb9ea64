// Package stdout is the audit destination that writes each event as one line
// of JSON (JSON Lines) to an io.Writer, standard output by default. On AWS
// Lambda, standard output goes to CloudWatch Logs, so this destination needs
// no configuration there.
package stdout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/latch"
)

// Config configures a Sink.
type Config struct {
	// Writer receives the lines. Nil means os.Stdout. Each Send makes one
	// Write call, so a Writer that writes whole lines keeps them whole.
	Writer io.Writer
}

// Sink writes audit events as JSON lines. It is safe for concurrent use:
// the lines of concurrent Sends never interleave.
type Sink struct {
	mu sync.Mutex // held across a Write, so lines of concurrent Sends stay whole
	w  io.Writer
}

var _ audit.Sink = (*Sink)(nil)

// New returns a Sink writing to c.Writer (os.Stdout when nil). It never
// fails; the error is there so that every destination is built alike.
func New(c Config) (*Sink, error) {
	w := c.Writer
	if w == nil {
		w = os.Stdout
	}
	return &Sink{w: w}, nil
}

// Name returns "stdout".
func (s *Sink) Name() string { return "stdout" }

// Send writes events, one JSON object (schema version 1) and a newline per
// event, in the order given, with a single Write. It returns nil when all
// were written. When the Write fails, the events it wrote whole are
// accepted and the rest are not: a *audit.PartialError names them, or the
// Write's error itself is returned (retryable) when none was written. An
// event that cannot be encoded as JSON (a field holding a NaN, say) is
// never written and fails permanently (latch.Permanent). Send does not
// look at ctx: a Write cannot be cancelled.
func (s *Sink) Send(_ context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	var buf []byte
	ends := make([]int, 0, len(events)) // end offset in buf of each written event's line
	idx := make([]int, 0, len(events))  // index in events of each line
	var bad []int
	var badErr error
	for i, e := range events {
		line, err := json.Marshal(e)
		if err != nil {
			bad = append(bad, i)
			if badErr == nil {
				badErr = latch.Permanent(fmt.Errorf("stdout: event %s cannot be encoded as JSON: %w", e.ID, err))
			}
			continue
		}
		buf = append(append(buf, line...), '\n')
		ends = append(ends, len(buf))
		idx = append(idx, i)
	}

	var writeErr error
	var unwritten []int
	if len(buf) > 0 {
		s.mu.Lock()
		n, err := s.w.Write(buf)
		s.mu.Unlock()
		if err == nil && n < len(buf) {
			err = io.ErrShortWrite
		}
		if err != nil {
			writeErr = fmt.Errorf("stdout: write: %w", err)
			for k, end := range ends {
				if end > n {
					unwritten = append(unwritten, idx[k:]...)
					break
				}
			}
		}
	}
	return combine(len(events), bad, badErr, unwritten, writeErr)
}

// combine builds Send's error from the events that failed permanently (bad,
// for badErr) and those that were not written (unwritten, for writeErr).
func combine(n int, bad []int, badErr error, unwritten []int, writeErr error) error {
	failed := mergeSorted(bad, unwritten)
	if len(failed) == 0 {
		return nil
	}
	// The reason is permanent only when every failure is: a retry of the
	// unwritten events may succeed.
	reason := writeErr
	if reason == nil {
		reason = badErr
	}
	if len(failed) == n {
		return reason
	}
	return &audit.PartialError{Failed: failed, Err: reason}
}

// mergeSorted merges two ascending index lists with no common element.
func mergeSorted(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}
