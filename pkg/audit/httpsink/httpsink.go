// Package httpsink is the HTTP audit destination: it POSTs audit events, as
// {"schema_version":1,"events":[...]}, to an endpoint the customer runs,
// signed with the same scheme as the webhook strategy (package signing).
package httpsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

// MaxBatch is the most events one call carries.
const MaxBatch = 100

// Config is the destination's settings.
type Config struct {
	URL        string       // http or https
	Secret     []byte       // signs every call; read it from a secret
	HTTPClient *http.Client // nil: a default client
	Clock      latch.Clock  // nil: the system clock
}

// Sink sends audit events to an HTTP endpoint. It is safe for concurrent use.
type Sink struct {
	sender *outbound.Sender
}

var _ audit.Sink = (*Sink)(nil)

// New returns a Sink for c, or an error naming what is wrong.
func New(c Config) (*Sink, error) {
	if len(c.Secret) == 0 {
		return nil, errors.New("the HTTP audit destination needs a secret to sign its calls")
	}
	opts := []outbound.Option{outbound.WithName("audit endpoint")}
	if c.Clock != nil {
		opts = append(opts, outbound.WithClock(c.Clock))
	}
	s, err := outbound.New(c.URL, c.Secret, c.HTTPClient, opts...)
	if err != nil {
		return nil, fmt.Errorf("the HTTP audit destination's url: %w", err)
	}
	return &Sink{sender: s}, nil
}

// Name is "http".
func (s *Sink) Name() string { return "http" }

// body is what one call carries.
type body struct {
	SchemaVersion int           `json:"schema_version"`
	Events        []audit.Event `json:"events"`
}

// Send posts the events in calls of at most MaxBatch, in order. A call that
// fails makes its events fail (a PartialError when others were accepted);
// the receiver sees the same Idempotency-Key (the first and last event ids)
// when a call is repeated.
func (s *Sink) Send(ctx context.Context, events []audit.Event) error {
	var fails audit.Failures
	for start := 0; start < len(events); start += MaxBatch {
		end := min(start+MaxBatch, len(events))
		chunk := events[start:end]
		b, err := json.Marshal(body{SchemaVersion: audit.SchemaVersion, Events: chunk})
		if err == nil {
			key := chunk[0].ID + ".." + chunk[len(chunk)-1].ID
			_, err = s.sender.Post(ctx, b, key, fmt.Sprintf("deliver %d audit events", len(chunk)))
		}
		if err != nil {
			fails.Add(retryable(err), indexes(start, end)...)
		}
	}
	return fails.Err(len(events))
}

// retryable returns err without its latch.Permanent mark. A refusal here is
// a configuration to fix (a secret, a URL), and the events must wait for it
// rather than be skipped. The mark is the outermost wrapper of Post's
// errors, so err's message is unchanged.
func retryable(err error) error {
	if !latch.IsPermanent(err) {
		return err
	}
	if inner := errors.Unwrap(err); inner != nil && !latch.IsPermanent(inner) {
		return inner
	}
	return errors.New(err.Error())
}

// indexes returns start, start+1, …, end-1.
func indexes(start, end int) []int {
	out := make([]int, 0, end-start)
	for i := start; i < end; i++ {
		out = append(out, i)
	}
	return out
}
