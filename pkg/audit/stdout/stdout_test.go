package stdout_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/latchhq/latch/pkg/audit/audittest"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/audit/stdout"
	"github.com/latchhq/latch/pkg/latch"
)

var at = audittest.At

// decodeLines parses JSON lines strictly: every line one Event, and the
// output ends with a newline.
func decodeLines(tb testing.TB, out string) []audit.Event {
	tb.Helper()
	if out != "" && !strings.HasSuffix(out, "\n") {
		tb.Fatalf("output does not end with a newline: %q", out)
	}
	var got []audit.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e audit.Event
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			tb.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, e)
	}
	return got
}

func TestSendWritesOneJSONLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	s, err := stdout.New(stdout.Config{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "stdout" {
		t.Errorf("Name() = %q, want stdout", s.Name())
	}
	want := audittest.Events(3)
	if err := s.Send(context.Background(), want); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if diff := cmp.Diff(want, decodeLines(t, buf.String())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(buf.String(), `{"id":"req_0000/1","schema_version":1,"type":"approved","at":"2026-11-25T09:30:00Z"`) {
		t.Errorf("first line does not follow the schema's field order: %s", buf.String())
	}
}

func TestSendNothingWritesNothing(t *testing.T) {
	w := &failingWriter{err: errors.New("must not be called")}
	s, _ := stdout.New(stdout.Config{Writer: w})
	if err := s.Send(context.Background(), nil); err != nil {
		t.Fatalf("Send(nil) = %v", err)
	}
	if w.calls != 0 {
		t.Errorf("Write called %d times", w.calls)
	}
}

func TestNewDefaultsToStandardOutput(t *testing.T) {
	s, err := stdout.New(stdout.Config{})
	if err != nil || s == nil {
		t.Fatalf("New(Config{}) = %v, %v", s, err)
	}
}

// failingWriter accepts the first n bytes of a Write and fails.
type failingWriter struct {
	n     int
	err   error
	calls int
	got   []byte
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.calls++
	n := min(w.n, len(p))
	w.got = append(w.got, p[:n]...)
	if w.err == nil {
		return n, nil // a short write without an error
	}
	return n, w.err
}

func TestSendWriteFailure(t *testing.T) {
	line := func(i int) int {
		b, _ := json.Marshal(audittest.Event(i))
		return len(b) + 1
	}
	diskFull := errors.New("no space left on device")
	tests := []struct {
		name      string
		give      *failingWriter
		wantErr   bool
		wantFail  []int
		wantWhole int // events written whole
	}{
		{name: "nothing written: a plain retryable error", give: &failingWriter{n: 0, err: diskFull}, wantErr: true, wantFail: []int{0, 1, 2}},
		{name: "first line cut: all failed", give: &failingWriter{n: line(0) - 1, err: diskFull}, wantErr: true, wantFail: []int{0, 1, 2}},
		{name: "one line whole: the rest failed", give: &failingWriter{n: line(0) + 5, err: diskFull}, wantErr: true, wantFail: []int{1, 2}, wantWhole: 1},
		{name: "two lines whole", give: &failingWriter{n: line(0) + line(1), err: diskFull}, wantErr: true, wantFail: []int{2}, wantWhole: 2},
		{name: "short write without an error", give: &failingWriter{n: line(0)}, wantErr: true, wantFail: []int{1, 2}, wantWhole: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := stdout.New(stdout.Config{Writer: tt.give})
			err := s.Send(context.Background(), audittest.Events(3))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send = %v, want error %v", err, tt.wantErr)
			}
			if latch.IsPermanent(err) {
				t.Errorf("a write error is marked permanent: %v", err)
			}
			if diff := cmp.Diff(tt.wantFail, audit.Failed(err, 3)); diff != "" {
				t.Errorf("failed indexes (-want +got):\n%s", diff)
			}
			var pe *audit.PartialError
			if isPartial := errors.As(err, &pe); isPartial != (tt.wantWhole > 0) {
				t.Errorf("PartialError = %v, want one only when some events were written: %v", isPartial, err)
			}
			whole := strings.Count(string(tt.give.got), "\n")
			if whole != tt.wantWhole {
				t.Errorf("%d lines written whole, want %d", whole, tt.wantWhole)
			}
		})
	}
}

func TestSendEventThatIsNotJSON(t *testing.T) {
	var buf bytes.Buffer
	s, _ := stdout.New(stdout.Config{Writer: &buf})
	evs := audittest.Events(3)
	evs[1].Data = map[string]any{"ratio": math.NaN()}

	err := s.Send(context.Background(), evs)
	var pe *audit.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Send = %v, want a *audit.PartialError", err)
	}
	if diff := cmp.Diff([]int{1}, pe.Failed); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
	if !latch.IsPermanent(err) || !strings.Contains(err.Error(), "req_0001/1") {
		t.Errorf("err = %v, want permanent and naming the event", err)
	}
	got := decodeLines(t, buf.String())
	if len(got) != 2 || got[0].ID != "req_0000/1" || got[1].ID != "req_0002/1" {
		t.Errorf("written: %+v, want events 0 and 2", got)
	}

	// Alone, it is still refused on its own account: a permanent partial
	// error naming it, so that a shipper skips it instead of retrying it
	// for ever.
	err = s.Send(context.Background(), evs[1:2])
	if !latch.IsPermanent(err) || !errors.As(err, &pe) || !slices.Equal(pe.Failed, []int{0}) {
		t.Errorf("Send(bad event alone) = %v, want a permanent partial error naming it", err)
	}
}

func TestSendConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	s, _ := stdout.New(stdout.Config{Writer: &buf})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := audittest.Events(20)
			for i := range evs {
				evs[i].ID = fmt.Sprintf("g%d/%d", g, i)
			}
			if err := s.Send(context.Background(), evs); err != nil {
				t.Errorf("Send: %v", err)
			}
		}()
	}
	wg.Wait()
	got := decodeLines(t, buf.String())
	if len(got) != 160 {
		t.Fatalf("%d lines, want 160", len(got))
	}
	// Each Send's events stay together and in order.
	for k := 0; k < len(got); k += 20 {
		g := strings.SplitN(got[k].ID, "/", 2)[0]
		for i := range 20 {
			if want := fmt.Sprintf("%s/%d", g, i); got[k+i].ID != want {
				t.Fatalf("line %d is %s, want %s", k+i, got[k+i].ID, want)
			}
		}
	}
}
