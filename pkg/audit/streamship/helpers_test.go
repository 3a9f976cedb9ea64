package streamship

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchhq/latch/pkg/audit"
)

// recorder is a sink that records what it accepted and answers from a
// script, one answer per Send (a func of the events given); past the
// script, it accepts everything.
type recorder struct {
	name     string
	mu       sync.Mutex
	accepted []audit.Event
	sends    [][]string // the ids given to each Send
	script   []func([]audit.Event) error
}

func (s *recorder) Name() string { return s.name }

func (s *recorder) Send(_ context.Context, evs []audit.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	s.sends = append(s.sends, ids)
	var err error
	if len(s.script) > 0 {
		err, s.script = s.script[0](evs), s.script[1:]
	}
	failed := audit.Failed(err, len(evs))
	for i, e := range evs {
		if !slices.Contains(failed, i) {
			s.accepted = append(s.accepted, e)
		}
	}
	return err
}

func (s *recorder) events() []audit.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accepted)
}

func (s *recorder) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.accepted))
	for i, e := range s.accepted {
		out[i] = e.ID
	}
	return out
}

func (s *recorder) sent() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sends)
}

// loadEvent reads a DynamoDB stream event of testdata.
func loadEvent(t testing.TB, name string) events.DynamoDBEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}
