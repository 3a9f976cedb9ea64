package streamship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/latch"
)

// The audit events of testdata/stream.json, in the order written, and the
// sequence numbers of their records.
var (
	id1, id2, id3 = latch.AuditEventID(reqID, 1), latch.AuditEventID(reqID, 2), latch.AuditEventID(reqID, 3)
	allIDs        = []string{id1, id2, id3, adminID}
	seqOf         = map[string]string{id1: "000000000000000000003", id2: "000000000000000000007", id3: "000000000000000000010", adminID: "000000000000000000011"}
)

// batch is testdata/stream.json followed by the time-to-live deletion of
// its first dedup marker: every kind of record the table's stream holds.
func batch(t *testing.T) events.DynamoDBEvent {
	ev := loadEvent(t, "stream.json")
	ev.Records = append(ev.Records, loadEvent(t, "ttl_remove.json").Records...)
	return ev
}

// written is what the scenario wrote, by id.
func written() map[string]latch.AuditEvent {
	commits, admin := scenario()
	out := map[string]latch.AuditEvent{admin.ID: admin}
	for _, c := range commits {
		for _, e := range c.Audit {
			out[e.ID] = e
		}
	}
	return out
}

// fakeSleep records the waits asked for and returns at once.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) sleep(_ context.Context, d time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, d)
	return true
}

func (f *fakeSleep) got() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.waits)
}

func logTo(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, nil))
}

func failures(seqs ...string) events.DynamoDBEventResponse {
	var out events.DynamoDBEventResponse
	for _, s := range seqs {
		out.BatchItemFailures = append(out.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: s})
	}
	return out
}

func handle(t *testing.T, h *Handler, ev events.DynamoDBEvent, want events.DynamoDBEventResponse) {
	t.Helper()
	got, err := h.Handle(t.Context(), ev)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Handle's response (-want +got):\n%s", diff)
	}
}

// from returns ev from the record holding event id on: what Lambda sends
// again after that record is reported.
func from(t *testing.T, ev events.DynamoDBEvent, id string) events.DynamoDBEvent {
	t.Helper()
	i := slices.IndexFunc(ev.Records, func(r events.DynamoDBEventRecord) bool { return r.Change.SequenceNumber == seqOf[id] })
	if i < 0 {
		t.Fatalf("no record of %s", id)
	}
	return events.DynamoDBEvent{Records: ev.Records[i:]}
}

func TestRecordEventPicksInsertedAuditItemsOnly(t *testing.T) {
	ev := batch(t)
	var kinds []string
	for _, r := range ev.Records {
		e, ok, err := RecordEvent(r)
		if err != nil {
			t.Fatalf("%s %s: %v", r.EventName, keyOf(r.Change.Keys), err)
		}
		kind := r.EventName + " " + itemType(r)
		if r.UserIdentity != nil {
			kind += " by " + r.UserIdentity.PrincipalID
		}
		if ok {
			kind += " → " + e.ID
		}
		kinds = append(kinds, kind)
	}
	want := []string{
		"INSERT dedup", "INSERT request", "INSERT audit → " + id1, "INSERT effect",
		"INSERT dedup", "MODIFY request", "INSERT audit → " + id2,
		"INSERT dedup", "MODIFY request", "INSERT audit → " + id3,
		"INSERT audit → " + adminID, "INSERT audit_id",
		"REMOVE  by dynamodb.amazonaws.com",
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("records of testdata (-want +got):\n%s", diff)
	}
}

func TestShipsOnlyAuditEventsInOrderConvertedExactly(t *testing.T) {
	sink := &recorder{name: "one"}
	h := &Handler{Sinks: []audit.Sink{sink}}
	handle(t, h, batch(t), failures())

	w := written()
	var want []audit.Event
	for _, id := range allIDs {
		want = append(want, audit.FromAudit(w[id]))
	}
	if diff := cmp.Diff(want, sink.events()); diff != "" {
		t.Errorf("shipped (-audit.FromAudit of the event written +got):\n%s", diff)
	}
	// The published JSON is the same too.
	for i, e := range sink.events() {
		got, _ := json.Marshal(e)
		exp, _ := json.Marshal(want[i])
		if !bytes.Equal(got, exp) {
			t.Errorf("event %s as JSON:\n got %s\nwant %s", e.ID, got, exp)
		}
	}
	if n := len(sink.sent()); n != 1 {
		t.Errorf("%d Sends, want 1 (a sink cuts its own calls)", n)
	}
}

func TestNoAuditEventSendsNothing(t *testing.T) {
	ev := batch(t)
	var rest events.DynamoDBEvent
	for _, r := range ev.Records {
		if itemType(r) != dynamostore.TypeAudit {
			rest.Records = append(rest.Records, r)
		}
	}
	sink := &recorder{name: "one"}
	handle(t, &Handler{Sinks: []audit.Sink{sink}}, rest, failures())
	if n := len(sink.sent()); n != 0 {
		t.Errorf("%d Sends of a batch without audit events", n)
	}
}

func TestTwoSinksBothReceiveEverything(t *testing.T) {
	a, b := &recorder{name: "a"}, &recorder{name: "b"}
	handle(t, &Handler{Sinks: []audit.Sink{a, b}}, batch(t), failures())
	for _, s := range []*recorder{a, b} {
		if diff := cmp.Diff(allIDs, s.ids()); diff != "" {
			t.Errorf("sink %s (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestFailingSinkReportsFirstRecordItLacks(t *testing.T) {
	retryable := errors.New("datadog: 503")
	tests := []struct {
		name   string
		script []func([]audit.Event) error
		want   events.DynamoDBEventResponse
	}{
		{
			name:   "whole call fails",
			script: []func([]audit.Event) error{func([]audit.Event) error { return retryable }},
			want:   failures(seqOf[id1]),
		},
		{
			name: "the second event on",
			script: []func([]audit.Event) error{func([]audit.Event) error {
				return &audit.PartialError{Failed: []int{1, 2, 3}, Err: retryable}
			}},
			want: failures(seqOf[id2]),
		},
		{
			name: "only the admin event",
			script: []func([]audit.Event) error{func([]audit.Event) error {
				return &audit.PartialError{Failed: []int{3}, Err: retryable}
			}},
			want: failures(seqOf[adminID]),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good, bad := &recorder{name: "good"}, &recorder{name: "bad", script: tt.script}
			handle(t, &Handler{Sinks: []audit.Sink{good, bad}, Attempts: 1}, batch(t), tt.want)
			if diff := cmp.Diff(allIDs, good.ids()); diff != "" {
				t.Errorf("the other sink (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEarliestFailureOfSeveralSinks(t *testing.T) {
	fail := func(idx ...int) func([]audit.Event) error {
		return func([]audit.Event) error { return &audit.PartialError{Failed: idx, Err: errors.New("timeout")} }
	}
	a := &recorder{name: "a", script: []func([]audit.Event) error{fail(3)}}
	b := &recorder{name: "b", script: []func([]audit.Event) error{fail(2, 3)}}
	c := &recorder{name: "c"}
	handle(t, &Handler{Sinks: []audit.Sink{a, b, c}, Attempts: 1}, batch(t), failures(seqOf[id3]))
}

func TestRetriesWithinTheInvocationWithBackoff(t *testing.T) {
	sleep := &fakeSleep{}
	down := func([]audit.Event) error { return errors.New("connection refused") }
	sink := &recorder{name: "flaky", script: []func([]audit.Event) error{
		func([]audit.Event) error {
			return &audit.PartialError{Failed: []int{1, 2}, Err: errors.New("throttled")}
		},
		down,
	}}
	h := &Handler{Sinks: []audit.Sink{sink}, Attempts: 3, Backoff: time.Second, sleep: sleep.sleep}
	handle(t, h, batch(t), failures())
	if diff := cmp.Diff([][]string{allIDs, {id2, id3}, {id2, id3}}, sink.sent()); diff != "" {
		t.Errorf("Sends (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second}, sleep.got()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{id1, adminID, id2, id3}, sink.ids()); diff != "" {
		t.Errorf("accepted (-want +got):\n%s", diff)
	}
}

func TestBackoffIsCapped(t *testing.T) {
	sleep := &fakeSleep{}
	var script []func([]audit.Event) error
	for range 6 {
		script = append(script, func([]audit.Event) error { return errors.New("503") })
	}
	sink := &recorder{name: "down", script: script}
	h := &Handler{Sinks: []audit.Sink{sink}, Attempts: 6, Backoff: 2 * time.Second, sleep: sleep.sleep}
	handle(t, h, batch(t), failures(seqOf[id1]))
	want := []time.Duration{2 * time.Second, 4 * time.Second, MaxBackoff, MaxBackoff, MaxBackoff}
	if diff := cmp.Diff(want, sleep.got()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestPermanentRefusalOfAnEventIsLoggedAndSkipped(t *testing.T) {
	var logs bytes.Buffer
	tooBig := latch.Permanent(fmt.Errorf("datadog: event %s is larger than 1000000 bytes", id2))
	sink := &recorder{name: "datadog", script: []func([]audit.Event) error{
		func([]audit.Event) error { return &audit.PartialError{Failed: []int{1}, Err: tooBig} },
	}}
	other := &recorder{name: "stdout"}
	h := &Handler{Sinks: []audit.Sink{sink, other}, Log: logTo(&logs)}
	handle(t, h, batch(t), failures())
	if diff := cmp.Diff([]string{id1, id3, adminID}, sink.ids()); diff != "" {
		t.Errorf("accepted (-want +got):\n%s", diff)
	}
	if n := len(sink.sent()); n != 1 {
		t.Errorf("%d Sends; a refusal for good is not retried", n)
	}
	if diff := cmp.Diff(allIDs, other.ids()); diff != "" {
		t.Errorf("the other sink (-want +got):\n%s", diff)
	}
	var line struct {
		Level, Msg, Destination string
		Events                  []string
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	want := struct {
		Level, Msg, Destination string
		Events                  []string
	}{"ERROR", MsgSkipped, "datadog", []string{id2}}
	if diff := cmp.Diff(want, line); diff != "" {
		t.Errorf("log line (-want +got):\n%s", diff)
	}
}

func TestPermanentRefusalOfALoneEventAfterOthersWereAcceptedIsSkipped(t *testing.T) {
	var logs bytes.Buffer
	sink := &recorder{name: "firehose", script: []func([]audit.Event) error{
		// The event fails with a passing failure of another first, so the
		// Err is retryable; alone, it fails for good, and not as a partial
		// failure (every event of that Send failed).
		func([]audit.Event) error {
			return &audit.PartialError{Failed: []int{1, 2}, Err: errors.New("ServiceUnavailableException")}
		},
		func([]audit.Event) error {
			return &audit.PartialError{Failed: []int{0}, Err: errors.New("ServiceUnavailableException")}
		},
		func([]audit.Event) error { return latch.Permanent(errors.New("record too large")) },
	}}
	h := &Handler{Sinks: []audit.Sink{sink}, Log: logTo(&logs), Attempts: 5, sleep: (&fakeSleep{}).sleep}
	handle(t, h, batch(t), failures())
	if diff := cmp.Diff([][]string{allIDs, {id2, id3}, {id2}}, sink.sent()); diff != "" {
		t.Errorf("Sends (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), MsgSkipped) || !strings.Contains(logs.String(), id2) {
		t.Errorf("log %q does not name the skipped event", logs.String())
	}
}

func TestPermanentRefusalOfTheWholeCallIsNotRetriedNorSkipped(t *testing.T) {
	wrongKey := latch.Permanent(errors.New("datadog: 403: check APIKey and Site"))
	tests := []struct {
		name string
		ev   func(t *testing.T) events.DynamoDBEvent
		want string
	}{
		{name: "the batch", ev: batch, want: seqOf[id1]},
		// One event refused for good, and nothing accepted: the
		// destination may refuse everything (a wrong key). It waits.
		{name: "a batch of one event", ev: func(t *testing.T) events.DynamoDBEvent {
			ev := batch(t)
			i := slices.IndexFunc(ev.Records, func(r events.DynamoDBEventRecord) bool { return r.Change.SequenceNumber == seqOf[adminID] })
			return events.DynamoDBEvent{Records: ev.Records[i : i+1]}
		}, want: seqOf[adminID]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sleep := &fakeSleep{}
			sink := &recorder{name: "datadog", script: []func([]audit.Event) error{func([]audit.Event) error { return wrongKey }}}
			h := &Handler{Sinks: []audit.Sink{sink}, sleep: sleep.sleep}
			handle(t, h, tt.ev(t), failures(tt.want))
			if n := len(sink.sent()); n != 1 {
				t.Errorf("%d Sends, want 1", n)
			}
			if n := len(sleep.got()); n != 0 {
				t.Errorf("%d waits, want none", n)
			}
		})
	}
}

func TestRetryFromTheReportedRecordSkipsWhatEachSinkAccepted(t *testing.T) {
	ev := batch(t)
	good := &recorder{name: "good"}
	bad := &recorder{name: "bad", script: []func([]audit.Event) error{
		func([]audit.Event) error { return &audit.PartialError{Failed: []int{1, 2}, Err: errors.New("503")} },
	}}
	h := &Handler{Sinks: []audit.Sink{good, bad}, Attempts: 1}
	handle(t, h, ev, failures(seqOf[id2]))

	// Lambda sends the batch again from the reported record.
	handle(t, h, from(t, ev, id2), failures())
	if diff := cmp.Diff([][]string{allIDs}, good.sent()); diff != "" {
		t.Errorf("the good sink's Sends (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{allIDs, {id2, id3}}, bad.sent()); diff != "" {
		t.Errorf("the bad sink's Sends (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{id1, adminID, id2, id3}, bad.ids()); diff != "" {
		t.Errorf("the bad sink received (-want +got):\n%s", diff)
	}
}

func TestRememberOff(t *testing.T) {
	ev := batch(t)
	good := &recorder{name: "good"}
	bad := &recorder{name: "bad", script: []func([]audit.Event) error{func([]audit.Event) error { return errors.New("503") }}}
	h := &Handler{Sinks: []audit.Sink{good, bad}, Attempts: 1, Remember: -1}
	handle(t, h, ev, failures(seqOf[id1]))
	handle(t, h, ev, failures())
	// Without memory, a retry is a duplicate for the good sink, with the
	// same ids: destinations drop duplicates by id.
	if diff := cmp.Diff(append(slices.Clone(allIDs), allIDs...), good.ids()); diff != "" {
		t.Errorf("the good sink received (-want +got):\n%s", diff)
	}
}

func TestIDSetKeepsTheLatest(t *testing.T) {
	s := newIDSet(3)
	for _, id := range []string{"a", "b", "c", "b", "d", "e"} {
		s.add(id)
	}
	for id, want := range map[string]bool{"a": false, "b": false, "c": true, "d": true, "e": true} {
		if s.has(id) != want {
			t.Errorf("has(%s) = %v, want %v", id, !want, want)
		}
	}
	none := newIDSet(0)
	none.add("a")
	if none.has("a") {
		t.Error("a set of size 0 holds an id")
	}
}

func TestEventsOfOneCommitAreShippedInSeqOrder(t *testing.T) {
	// The records of a request's events, out of order, as different items
	// of one transaction may be; the admin event keeps its place.
	ev := batch(t)
	var recs []events.DynamoDBEventRecord
	for _, id := range []string{id3, adminID, id1, id2} {
		i := slices.IndexFunc(ev.Records, func(r events.DynamoDBEventRecord) bool { return r.Change.SequenceNumber == seqOf[id] })
		recs = append(recs, ev.Records[i])
	}
	ok := &recorder{name: "ok"}
	handle(t, &Handler{Sinks: []audit.Sink{ok}}, events.DynamoDBEvent{Records: recs}, failures())
	if diff := cmp.Diff([]string{id1, adminID, id2, id3}, ok.ids()); diff != "" {
		t.Errorf("shipped (-want +got):\n%s", diff)
	}

	// id1 now comes from the third record: when it fails, Lambda must
	// send again from there, not from the record of the first event sent.
	bad := &recorder{name: "bad", script: []func([]audit.Event) error{
		func([]audit.Event) error { return &audit.PartialError{Failed: []int{0}, Err: errors.New("503")} },
	}}
	handle(t, &Handler{Sinks: []audit.Sink{bad}, Attempts: 1}, events.DynamoDBEvent{Records: recs}, failures(seqOf[id1]))
	// When the second event sent fails, its record is the second.
	bad = &recorder{name: "bad", script: []func([]audit.Event) error{
		func([]audit.Event) error { return &audit.PartialError{Failed: []int{1}, Err: errors.New("503")} },
	}}
	handle(t, &Handler{Sinks: []audit.Sink{bad}, Attempts: 1}, events.DynamoDBEvent{Records: recs}, failures(seqOf[adminID]))
	// When the last three fail, the first record holds one of them (id3).
	bad = &recorder{name: "bad", script: []func([]audit.Event) error{
		func([]audit.Event) error { return &audit.PartialError{Failed: []int{1, 2, 3}, Err: errors.New("503")} },
	}}
	handle(t, &Handler{Sinks: []audit.Sink{bad}, Attempts: 1}, events.DynamoDBEvent{Records: recs}, failures(seqOf[id3]))
}

func TestUndecodableAuditItemIsLoggedAndSkipped(t *testing.T) {
	ev := batch(t)
	i := slices.IndexFunc(ev.Records, func(r events.DynamoDBEventRecord) bool { return r.Change.SequenceNumber == seqOf[id2] })
	broken := ev.Records[i]
	broken.Change.NewImage = maps(broken.Change.NewImage)
	broken.Change.NewImage[dynamostore.AttrDoc] = events.NewStringAttribute(`{"id":`)
	ev.Records[i] = broken

	var logs bytes.Buffer
	sink := &recorder{name: "one"}
	handle(t, &Handler{Sinks: []audit.Sink{sink}, Log: logTo(&logs)}, ev, failures())
	if diff := cmp.Diff([]string{id1, id3, adminID}, sink.ids()); diff != "" {
		t.Errorf("shipped (-want +got):\n%s", diff)
	}
	for _, want := range []string{MsgUndecodable, seqOf[id2], "AUDIT#" + id2} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q does not say %q", logs.String(), want)
		}
	}
}

func maps(m map[string]events.DynamoDBAttributeValue) map[string]events.DynamoDBAttributeValue {
	out := make(map[string]events.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestDecodeAuditItem(t *testing.T) {
	s := events.NewStringAttribute
	key := map[string]events.DynamoDBAttributeValue{dynamostore.AttrPK: s("REQ#r"), dynamostore.AttrSK: s("AUDIT#r/000001")}
	with := func(attrs map[string]events.DynamoDBAttributeValue) map[string]events.DynamoDBAttributeValue {
		out := maps(key)
		for k, v := range attrs {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name    string
		item    map[string]events.DynamoDBAttributeValue
		want    latch.AuditEvent
		wantErr string
	}{
		{name: "an event", item: with(map[string]events.DynamoDBAttributeValue{
			dynamostore.AttrType: s(dynamostore.TypeAudit),
			dynamostore.AttrDoc:  s(`{"id":"r/000001","request_id":"r","seq":1,"type":"denied","at":"2026-11-25T09:30:00Z","reason":"no","future_field":true}`)}),
			want: latch.AuditEvent{ID: "r/000001", RequestID: "r", Seq: 1, Type: latch.AuditDenied, At: time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC), Reason: "no"}},
		{name: "another type", item: with(map[string]events.DynamoDBAttributeValue{dynamostore.AttrType: s(dynamostore.TypeAuditID)}),
			wantErr: `item REQ#r AUDIT#r/000001: type "audit_id", not "audit"`},
		{name: "no document", item: with(map[string]events.DynamoDBAttributeValue{dynamostore.AttrType: s(dynamostore.TypeAudit)}),
			wantErr: "audit item REQ#r AUDIT#r/000001 has no document"},
		{name: "an event as a native map", item: with(map[string]events.DynamoDBAttributeValue{
			dynamostore.AttrType: s(dynamostore.TypeAudit),
			dynamostore.AttrDoc: events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{
				"id": s("r/000001"), "request_id": s("r"), "seq": events.NewNumberAttribute("1"), "type": s("denied"),
				"at": s("2026-11-25T09:30:00Z"), "reason": s("no"), "future_field": events.NewBooleanAttribute(true),
				"fields": events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{
					"hosts": events.NewListAttribute([]events.DynamoDBAttributeValue{s("a"), s("b")}), "n": events.NewNumberAttribute("4")})})}),
			want: latch.AuditEvent{ID: "r/000001", RequestID: "r", Seq: 1, Type: latch.AuditDenied, At: time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC), Reason: "no",
				Fields: latch.Fields{"hosts": []string{"a", "b"}, "n": int64(4)}}},
		{name: "a document that is neither a map nor a string", item: with(map[string]events.DynamoDBAttributeValue{
			dynamostore.AttrType: s(dynamostore.TypeAudit), dynamostore.AttrDoc: events.NewNumberAttribute("1")}),
			wantErr: "not a map"},
		{name: "not JSON", item: with(map[string]events.DynamoDBAttributeValue{
			dynamostore.AttrType: s(dynamostore.TypeAudit), dynamostore.AttrDoc: s("{")}),
			wantErr: "audit item REQ#r AUDIT#r/000001: decode its document"},
		{name: "no id", item: with(map[string]events.DynamoDBAttributeValue{
			dynamostore.AttrType: s(dynamostore.TypeAudit), dynamostore.AttrDoc: s(`{"type":"denied"}`)}),
			wantErr: "the event has no id"},
		{name: "a type that is not a string", item: map[string]events.DynamoDBAttributeValue{dynamostore.AttrType: events.NewBooleanAttribute(true)},
			wantErr: `item (no key): type "", not "audit"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeAuditItem(tt.item)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamWithoutNewImagesFailsTheBatch(t *testing.T) {
	ev := batch(t)
	for i := range ev.Records {
		ev.Records[i].Change.NewImage = nil
		ev.Records[i].Change.StreamViewType = string(events.DynamoDBStreamViewTypeKeysOnly)
	}
	sink := &recorder{name: "one"}
	_, err := (&Handler{Sinks: []audit.Sink{sink}}).Handle(t.Context(), ev)
	if !errors.Is(err, ErrNoImage) {
		t.Fatalf("Handle: %v, want ErrNoImage", err)
	}
	if n := len(sink.sent()); n != 0 {
		t.Errorf("%d Sends", n)
	}
}

func TestNoSinkFailsTheBatch(t *testing.T) {
	if _, err := (&Handler{}).Handle(t.Context(), batch(t)); err == nil {
		t.Fatal("Handle without sinks: no error")
	}
}

func TestRecordWithoutSequenceNumberFailsTheBatch(t *testing.T) {
	ev := batch(t)
	for i := range ev.Records {
		ev.Records[i].Change.SequenceNumber = ""
	}
	sink := &recorder{name: "bad", script: []func([]audit.Event) error{func([]audit.Event) error { return errors.New("503") }}}
	if _, err := (&Handler{Sinks: []audit.Sink{sink}, Attempts: 1}).Handle(t.Context(), ev); err == nil {
		t.Fatal("no error")
	}
}

// ctxSink fails when its context is done, and says when it was asked.
type ctxSink struct {
	deadline time.Time
	calls    int
}

func (s *ctxSink) Name() string { return "ctx" }
func (s *ctxSink) Send(ctx context.Context, _ []audit.Event) error {
	s.calls++
	s.deadline, _ = ctx.Deadline()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.New("503")
}

func TestDeliveriesEndReserveBeforeTheDeadline(t *testing.T) {
	deadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	sleep := &fakeSleep{}
	sink := &ctxSink{}
	// A wait longer than the time left is not started.
	h := &Handler{Sinks: []audit.Sink{sink}, Reserve: 10 * time.Second, Backoff: 2 * time.Minute, Attempts: 5, sleep: sleep.sleep}
	resp, err := h.Handle(ctx, batch(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(failures(seqOf[id1]), resp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if want := deadline.Add(-10 * time.Second); !sink.deadline.Equal(want) {
		t.Errorf("the sink's deadline is %v, want %v", sink.deadline, want)
	}
	if sink.calls != 1 || len(sleep.got()) != 0 {
		t.Errorf("%d Sends and %d waits, want 1 and none", sink.calls, len(sleep.got()))
	}

	// With less time left than Reserve, the sink's context is done at once.
	ctx, cancel = context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	sink = &ctxSink{}
	resp, err = (&Handler{Sinks: []audit.Sink{sink}, Reserve: 2 * time.Second}).Handle(ctx, batch(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(failures(seqOf[id1]), resp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestResponseJSON(t *testing.T) {
	// The syntax Lambda reads (see the package doc).
	b, err := json.Marshal(failures("000000000000000000007"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"batchItemFailures":[{"itemIdentifier":"000000000000000000007"}]}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}

func FuzzRecordEvent(f *testing.F) {
	for _, name := range []string{"stream.json", "ttl_remove.json"} {
		for _, r := range loadEvent(f, name).Records {
			b, _ := json.Marshal(r)
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r events.DynamoDBEventRecord
		if json.Unmarshal(b, &r) != nil {
			return
		}
		e, ok, err := RecordEvent(r)
		if err != nil && ok {
			t.Fatalf("ok with error %v", err)
		}
		if ok {
			if e.ID == "" {
				t.Fatal("an event without id")
			}
			if _, err := json.Marshal(audit.FromAudit(e)); err != nil {
				t.Logf("not encodable (the sink refuses it for good): %v", err)
			}
		}
	})
}

type panicky struct{}

func (panicky) Name() string                              { return "panicky" }
func (panicky) Send(context.Context, []audit.Event) error { panic("nil map") }

func TestPanickingSinkFailsAloneFromTheFirstEvent(t *testing.T) {
	var logs bytes.Buffer
	ok := &recorder{name: "ok"}
	handle(t, &Handler{Sinks: []audit.Sink{panicky{}, ok}, Log: logTo(&logs)}, batch(t), failures(seqOf[id1]))
	if diff := cmp.Diff(allIDs, ok.ids()); diff != "" {
		t.Errorf("the other sink (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "nil map") {
		t.Errorf("log %q does not show the panic", logs.String())
	}
}
