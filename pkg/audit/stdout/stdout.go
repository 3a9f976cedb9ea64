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
	var fails audit.Failures
	var buf []byte
	ends := make([]int, 0, len(events)) // end offset in buf of each written event's line
	idx := make([]int, 0, len(events))  // index in events of each line
	for i, e := range events {
		line, err := json.Marshal(e)
		if err != nil {
			fails.Refuse(fmt.Errorf("stdout: event %s cannot be encoded as JSON: %w", e.ID, err), i)
			continue
		}
		buf = append(append(buf, line...), '\n')
		ends = append(ends, len(buf))
		idx = append(idx, i)
	}
	if len(buf) > 0 {
		s.mu.Lock()
		n, err := s.w.Write(buf)
		s.mu.Unlock()
		if err == nil && n < len(buf) {
			err = io.ErrShortWrite
		}
		if err != nil {
			for k, end := range ends {
				if end > n {
					fails.Add(fmt.Errorf("stdout: write: %w", err), idx[k:]...)
					break
				}
			}
		}
	}
	return fails.Err(len(events))
}
