package firehose_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/latchhq/latch/pkg/audit/audittest"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsfirehose "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/audit/firehose"
	"github.com/latchhq/latch/pkg/latch"
)

const stream = "latch-audit"

var at = audittest.At

// call is one PutRecordBatch call the fake got.
type call struct {
	Header    http.Header
	BodyBytes int
	Stream    string
	Records   [][]byte // each record's data, base64-decoded
}

// answer is a scripted answer to a whole call.
type answer struct {
	status int
	body   string
}

// fakeFirehose speaks Firehose's JSON 1.1 protocol for PutRecordBatch. Like
// Firehose it refuses another target, content type or an unsigned call, an
// unknown stream (ResourceNotFoundException) and a call over the limits
// (InvalidArgumentException). It takes every record unless its event id is
// in failIDs (each fails once, with that ErrorCode), and answers the next
// calls with the answers queued in script.
type fakeFirehose struct {
	srv *httptest.Server

	mu      sync.Mutex
	calls   []call
	failIDs map[string]string
	script  []answer
	hang    bool
}

func newFake(tb testing.TB) *fakeFirehose {
	tb.Helper()
	f := &fakeFirehose{failIDs: map[string]string{}}
	release := make(chan struct{})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		hang := f.hang
		f.mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		status, body := f.serve(r)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", "4f1c6d2e-0000-4000-8000-000000000000")
		var e struct {
			Type string `json:"__type"`
		}
		if status != http.StatusOK && json.Unmarshal([]byte(body), &e) == nil && e.Type != "" {
			w.Header().Set("X-Amzn-Errortype", e.Type)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	tb.Cleanup(func() {
		close(release)
		f.srv.Close()
	})
	return f
}

func apiErr(typ, msg string) string {
	b, _ := json.Marshal(map[string]string{"__type": typ, "message": msg})
	return string(b)
}

func (f *fakeFirehose) serve(r *http.Request) (int, string) {
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		return http.StatusNotFound, apiErr("UnknownOperationException", "")
	case r.Header.Get("X-Amz-Target") != "Firehose_20150804.PutRecordBatch":
		return http.StatusBadRequest, apiErr("UnknownOperationException", "unexpected target "+r.Header.Get("X-Amz-Target"))
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		return http.StatusBadRequest, apiErr("SerializationException", "unexpected content type "+r.Header.Get("Content-Type"))
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDLATCHTEST/") ||
		!strings.Contains(r.Header.Get("Authorization"), "/us-east-1/firehose/aws4_request"):
		return http.StatusForbidden, apiErr("MissingAuthenticationTokenException", "unsigned call: "+r.Header.Get("Authorization"))
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return http.StatusBadRequest, apiErr("SerializationException", err.Error())
	}
	var in struct {
		DeliveryStreamName string
		Records            []struct{ Data []byte } // encoding/json decodes base64 into []byte
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return http.StatusBadRequest, apiErr("SerializationException", err.Error())
	}
	if in.DeliveryStreamName != stream {
		return http.StatusBadRequest, apiErr("ResourceNotFoundException", fmt.Sprintf("Firehose %s under account 123456789012 not found.", in.DeliveryStreamName))
	}
	if len(in.Records) == 0 || len(in.Records) > 500 || len(raw) > 4<<20 {
		return http.StatusBadRequest, apiErr("InvalidArgumentException", fmt.Sprintf("%d records, %d bytes", len(in.Records), len(raw)))
	}
	c := call{Header: r.Header.Clone(), BodyBytes: len(raw), Stream: in.DeliveryStreamName}
	for _, rec := range in.Records {
		if len(rec.Data) > 1_024_000 {
			return http.StatusBadRequest, apiErr("InvalidArgumentException", "record too large")
		}
		c.Records = append(c.Records, rec.Data)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.script) > 0 {
		a := f.script[0]
		f.script = f.script[1:]
		if a.status != 0 {
			return a.status, a.body
		}
	}
	type entry struct {
		RecordID     string `json:"RecordId,omitempty"`
		ErrorCode    string `json:"ErrorCode,omitempty"`
		ErrorMessage string `json:"ErrorMessage,omitempty"`
	}
	out := struct {
		FailedPutCount   int
		Encrypted        bool
		RequestResponses []entry
	}{}
	var taken [][]byte
	for i, data := range c.Records {
		var e audit.Event
		_ = json.Unmarshal(data, &e)
		if code, ok := f.failIDs[e.ID]; ok {
			delete(f.failIDs, e.ID)
			out.FailedPutCount++
			out.RequestResponses = append(out.RequestResponses, entry{ErrorCode: code, ErrorMessage: "Slow down."})
			continue
		}
		out.RequestResponses = append(out.RequestResponses, entry{RecordID: fmt.Sprintf("rec-%d-%d", len(f.calls), i)})
		taken = append(taken, data)
	}
	c.Records = taken
	f.calls = append(f.calls, c)
	b, _ := json.Marshal(out)
	return http.StatusOK, string(b)
}

func (f *fakeFirehose) queue(answers ...answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, answers...)
}

func (f *fakeFirehose) fail(code string, ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.failIDs[id] = code
	}
}

// recorded returns the calls the fake answered with 200.
func (f *fakeFirehose) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// taken returns the events of every record taken, in order, checking that
// each record is one JSON line.
func (f *fakeFirehose) taken(tb testing.TB) []audit.Event {
	tb.Helper()
	var out []audit.Event
	for _, c := range f.recorded() {
		for _, data := range c.Records {
			if !bytes.HasSuffix(data, []byte("\n")) || bytes.Count(data, []byte("\n")) != 1 {
				tb.Fatalf("record is not one JSON line: %q", data)
			}
			var e audit.Event
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				tb.Fatalf("record %q: %v", data, err)
			}
			out = append(out, e)
		}
	}
	return out
}

func (f *fakeFirehose) client(tb testing.TB) *awsfirehose.Client {
	tb.Helper()
	return awsfirehose.New(awsfirehose.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLATCHTEST", "latch-test-secret", ""),
	})
}

func newSink(tb testing.TB, f *fakeFirehose, edit ...func(*firehose.Config)) *firehose.Sink {
	tb.Helper()
	c := firehose.Config{DeliveryStream: stream, Client: f.client(tb)}
	for _, e := range edit {
		e(&c)
	}
	s, err := firehose.New(c)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

func span(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestSendPutsOneJSONLinePerRecord(t *testing.T) {
	f := newFake(t)
	s := newSink(t, f)
	if s.Name() != "firehose" {
		t.Errorf("Name() = %q", s.Name())
	}
	evs := audittest.Events(3)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	calls := f.recorded()
	if len(calls) != 1 || calls[0].Stream != stream || len(calls[0].Records) != 3 {
		t.Fatalf("calls = %+v", calls)
	}
	if diff := cmp.Diff(evs, f.taken(t)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	want, _ := json.Marshal(evs[0])
	if got := string(calls[0].Records[0]); got != string(want)+"\n" {
		t.Errorf("record 0 = %q, want %q", got, string(want)+"\n")
	}
	// Concatenated, the records are a JSON Lines file, as in S3.
	var all []byte
	for _, r := range calls[0].Records {
		all = append(all, r...)
	}
	sc := bufio.NewScanner(bytes.NewReader(all))
	lines := 0
	for sc.Scan() {
		lines++
	}
	if lines != 3 {
		t.Errorf("%d lines, want 3", lines)
	}
}

func TestSendBatchesOver500Records(t *testing.T) {
	f := newFake(t)
	s := newSink(t, f)
	evs := audittest.Events(1203)
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var sizes []int
	for _, c := range f.recorded() {
		sizes = append(sizes, len(c.Records))
	}
	if diff := cmp.Diff([]int{500, 500, 203}, sizes); diff != "" {
		t.Errorf("records per call (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(audittest.IDs(evs), audittest.IDs(f.taken(t))); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// big returns event i carrying about n bytes of data.
func big(i, n int) audit.Event {
	e := audittest.Event(i)
	e.Data = map[string]any{"blob": strings.Repeat("x", n)}
	return e
}

func TestSendBatchesBySize(t *testing.T) {
	f := newFake(t)
	s := newSink(t, f)
	var evs []audit.Event
	for i := range 10 {
		evs = append(evs, big(i, 900_000)) // 1.2 MB in base64: three per call
	}
	if err := s.Send(context.Background(), evs); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var sizes []int
	for _, c := range f.recorded() {
		sizes = append(sizes, len(c.Records))
		if c.BodyBytes > firehose.MaxCallBytes {
			t.Errorf("a call of %d bytes", c.BodyBytes)
		}
	}
	if diff := cmp.Diff([]int{3, 3, 3, 1}, sizes); diff != "" {
		t.Errorf("records per call (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(audittest.IDs(evs), audittest.IDs(f.taken(t))); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestSendRecordsNotTaken(t *testing.T) {
	f := newFake(t)
	s := newSink(t, f)
	evs := audittest.Events(600)
	failAt := []int{3, 499, 500, 599}
	f.fail("ServiceUnavailableException", evs[3].ID, evs[500].ID)
	f.fail("InternalFailure", evs[499].ID, evs[599].ID)

	err := s.Send(context.Background(), evs)
	var pe *audit.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Send = %v, want a *audit.PartialError", err)
	}
	if diff := cmp.Diff(failAt, pe.Failed); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
	if latch.IsPermanent(err) || latch.ErrorCodeOf(err) != firehose.CodeRecordFailed {
		t.Errorf("err = %v, want retryable %s", err, firehose.CodeRecordFailed)
	}
	if !strings.Contains(err.Error(), "ServiceUnavailableException: Slow down.") {
		t.Errorf("err does not give Firehose's reason: %v", err)
	}
	if got := len(f.taken(t)); got != 596 {
		t.Errorf("%d records taken, want 596", got)
	}

	// The caller retries the failed events alone.
	var retry []audit.Event
	for _, i := range audit.Failed(err, len(evs)) {
		retry = append(retry, evs[i])
	}
	if err := s.Send(context.Background(), retry); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := len(f.taken(t)); got != 600 {
		t.Errorf("%d records taken after the retry, want 600", got)
	}
}

func TestSendEveryRecordNotTaken(t *testing.T) {
	f := newFake(t)
	s := newSink(t, f)
	evs := audittest.Events(2)
	f.fail("ServiceUnavailableException", audittest.IDs(evs)...)
	err := s.Send(context.Background(), evs)
	var pe *audit.PartialError
	if err == nil || errors.As(err, &pe) || latch.IsPermanent(err) {
		t.Fatalf("Send = %v, want a plain retryable error", err)
	}
}

func TestSendWholeCallFails(t *testing.T) {
	tests := []struct {
		name          string
		give          answer
		wantPermanent bool
		wantCode      string
		wantIn        string
	}{
		{name: "503 ServiceUnavailableException", give: answer{503, apiErr("ServiceUnavailableException", "Slow down.")},
			wantCode: firehose.CodeServerError, wantIn: "ServiceUnavailableException: Slow down."},
		{name: "500 InternalFailure", give: answer{500, apiErr("InternalFailure", "Internal Service Failure")},
			wantCode: firehose.CodeServerError, wantIn: "InternalFailure"},
		{name: "500 without a body", give: answer{500, ""}, wantCode: firehose.CodeServerError},
		{name: "400 ThrottlingException", give: answer{400, apiErr("ThrottlingException", "Rate exceeded")},
			wantCode: firehose.CodeServerError, wantIn: "Rate exceeded"},
		{name: "400 ResourceNotFoundException", give: answer{400, apiErr("ResourceNotFoundException", "Firehose latch-audit under account 123456789012 not found.")},
			wantPermanent: true, wantCode: firehose.CodeRejected, wantIn: "check DeliveryStream, and that the client is in the stream's region"},
		{name: "400 InvalidArgumentException", give: answer{400, apiErr("InvalidArgumentException", "bad")},
			wantPermanent: true, wantCode: firehose.CodeRejected},
		{name: "400 InvalidKMSResourceException", give: answer{400, apiErr("InvalidKMSResourceException", "key disabled")},
			wantPermanent: true, wantCode: firehose.CodeRejected},
		{name: "400 AccessDeniedException", give: answer{400, apiErr("AccessDeniedException", "not authorized to perform: firehose:PutRecordBatch")},
			wantPermanent: true, wantCode: firehose.CodeRejected, wantIn: "its role may firehose:PutRecordBatch on the stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.queue(tt.give)
			s := newSink(t, f)
			err := s.Send(context.Background(), audittest.Events(3))
			if err == nil {
				t.Fatal("Send = nil")
			}
			t.Log(err)
			var pe *audit.PartialError
			if errors.As(err, &pe) {
				t.Errorf("a failed single call gives a PartialError: %v", err)
			}
			if latch.IsPermanent(err) != tt.wantPermanent || latch.ErrorCodeOf(err) != tt.wantCode {
				t.Errorf("err = %v (permanent %v, code %s), want permanent %v, code %s",
					err, latch.IsPermanent(err), latch.ErrorCodeOf(err), tt.wantPermanent, tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("err lacks %q: %v", tt.wantIn, err)
			}
			// Made once: the client's retryer is not used.
			f.queue(answer{}) // the next call is answered normally
			if err := s.Send(context.Background(), audittest.Events(1)); err != nil {
				t.Fatalf("next Send: %v", err)
			}
			if got := len(f.recorded()); got != 1 {
				t.Errorf("%d calls answered 200, want 1: the failed call was retried", got)
			}
		})
	}
}

func TestSendSecondCallFails(t *testing.T) {
	f := newFake(t)
	f.queue(answer{}, answer{503, apiErr("ServiceUnavailableException", "Slow down.")})
	s := newSink(t, f)
	err := s.Send(context.Background(), audittest.Events(1100))
	var pe *audit.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Send = %v, want a *audit.PartialError", err)
	}
	if diff := cmp.Diff(span(500, 1000), pe.Failed); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
	if latch.IsPermanent(err) {
		t.Errorf("err is permanent: %v", err)
	}
	if got := len(f.taken(t)); got != 600 {
		t.Errorf("%d taken, want 600", got)
	}
}

func TestSendEventThatCanNeverBePut(t *testing.T) {
	f := newFake(t)
	s := newSink(t, f)
	evs := audittest.Events(4)
	evs[1] = big(1, firehose.MaxRecordBytes)
	evs[2].Data = map[string]any{"x": math.NaN()}

	err := s.Send(context.Background(), evs)
	var pe *audit.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Send = %v, want a *audit.PartialError", err)
	}
	if diff := cmp.Diff([]int{1, 2}, pe.Failed); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
	if !latch.IsPermanent(err) || latch.ErrorCodeOf(err) != firehose.CodeBadEvent || !strings.Contains(err.Error(), "req_0001/1") {
		t.Errorf("err = %v, want permanent %s naming req_0001/1", err, firehose.CodeBadEvent)
	}
	if diff := cmp.Diff([]string{"req_0000/1", "req_0003/1"}, audittest.IDs(f.taken(t))); diff != "" {
		t.Errorf("taken (-want +got):\n%s", diff)
	}
	err = s.Send(context.Background(), evs[1:2])
	// Alone it is still refused on its own account: partial, so that a
	// shipper skips it rather than retrying it for ever.
	if !latch.IsPermanent(err) || !errors.As(err, &pe) || len(pe.Failed) != 1 || pe.Failed[0] != 0 {
		t.Errorf("Send(too large alone) = %v, want a permanent partial error naming it", err)
	}
}

func TestSendAnswerWithoutPerRecordResults(t *testing.T) {
	f := newFake(t)
	f.queue(answer{200, `{"FailedPutCount":1,"Encrypted":false,"RequestResponses":[]}`})
	s := newSink(t, f)
	err := s.Send(context.Background(), audittest.Events(3))
	if err == nil || latch.IsPermanent(err) || latch.ErrorCodeOf(err) != firehose.CodeRecordFailed {
		t.Fatalf("Send = %v, want retryable %s", err, firehose.CodeRecordFailed)
	}
	if diff := cmp.Diff([]int{0, 1, 2}, audit.Failed(err, 3)); diff != "" {
		t.Errorf("Failed (-want +got):\n%s", diff)
	}
}

func TestSendAnswerTooLong(t *testing.T) {
	f := newFake(t)
	long := `{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[{"RecordId":"` + strings.Repeat("a", 2<<20) + `"}]}`
	f.queue(answer{200, long})
	s := newSink(t, f)
	err := s.Send(context.Background(), audittest.Events(1))
	if err == nil || latch.IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), "answer longer than") {
		t.Errorf("err = %v, want it to say the answer was too long", err)
	}
}

func TestSendTimeoutIsRetryable(t *testing.T) {
	f := newFake(t)
	f.hang = true
	s := newSink(t, f, func(c *firehose.Config) { c.Timeout = 50 * time.Millisecond })
	err := s.Send(context.Background(), audittest.Events(2))
	if err == nil || latch.IsPermanent(err) || latch.ErrorCodeOf(err) != firehose.CodeUnreachable || !strings.Contains(err.Error(), "did not answer within") {
		t.Fatalf("Send = %v, want retryable %s for a timeout", err, firehose.CodeUnreachable)
	}
}

func TestSendContextDone(t *testing.T) {
	f := newFake(t)
	s := newSink(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, audittest.Events(700))
	if !errors.Is(err, context.Canceled) || latch.IsPermanent(err) {
		t.Fatalf("Send = %v, want context.Canceled, retryable", err)
	}
	if len(audit.Failed(err, 700)) != 700 || len(f.recorded()) != 0 {
		t.Errorf("failed %d, calls %d", len(audit.Failed(err, 700)), len(f.recorded()))
	}
}

func TestSendNothing(t *testing.T) {
	f := newFake(t)
	if err := newSink(t, f).Send(context.Background(), nil); err != nil || len(f.recorded()) != 0 {
		t.Errorf("Send(nil) = %v with %d calls", err, len(f.recorded()))
	}
}

func TestSendConcurrent(t *testing.T) {
	f := newFake(t)
	s := newSink(t, f)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs := audittest.Events(40)
			for i := range evs {
				evs[i].ID = fmt.Sprintf("g%d/%d", g, i)
			}
			if err := s.Send(context.Background(), evs); err != nil {
				t.Errorf("Send: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := len(f.taken(t)); got != 320 {
		t.Errorf("%d records, want 320", got)
	}
}

// fakeAPI is an API answering from a function, for what an HTTP fake cannot
// show.
type fakeAPI func(*awsfirehose.PutRecordBatchInput, []func(*awsfirehose.Options)) (*awsfirehose.PutRecordBatchOutput, error)

func (f fakeAPI) PutRecordBatch(_ context.Context, in *awsfirehose.PutRecordBatchInput, opts ...func(*awsfirehose.Options)) (*awsfirehose.PutRecordBatchOutput, error) {
	return f(in, opts)
}

func TestSendTurnsOffTheClientsRetries(t *testing.T) {
	var got awsfirehose.Options
	api := fakeAPI(func(in *awsfirehose.PutRecordBatchInput, opts []func(*awsfirehose.Options)) (*awsfirehose.PutRecordBatchOutput, error) {
		got = awsfirehose.Options{RetryMaxAttempts: 3, HTTPClient: http.DefaultClient}
		for _, o := range opts {
			o(&got)
		}
		return &awsfirehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(0)}, nil
	})
	s, err := firehose.New(firehose.Config{DeliveryStream: stream, Client: api})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), audittest.Events(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Retryer.(aws.NopRetryer); !ok {
		t.Errorf("Retryer = %T, want aws.NopRetryer", got.Retryer)
	}
	if got.HTTPClient == http.DefaultClient {
		t.Error("the answer's size is not bounded")
	}
}

func TestNewValidates(t *testing.T) {
	client := fakeAPI(nil)
	tests := []struct {
		name string
		give firehose.Config
		want []string
	}{
		{name: "nothing", give: firehose.Config{}, want: []string{"DeliveryStream is required", "Client is required"}},
		{name: "an ARN", give: firehose.Config{DeliveryStream: "arn:aws:firehose:us-east-1:123456789012:deliverystream/latch-audit", Client: client},
			want: []string{"is an ARN; give the stream's name"}},
		{name: "a space", give: firehose.Config{DeliveryStream: "latch audit", Client: client}, want: []string{`DeliveryStream "latch audit" holds a space`}},
		{name: "negative timeout", give: firehose.Config{DeliveryStream: stream, Client: client, Timeout: -time.Second}, want: []string{"Timeout -1s is negative"}},
		{name: "long timeout", give: firehose.Config{DeliveryStream: stream, Client: client, Timeout: time.Hour}, want: []string{"Timeout 1h0m0s is longer than 5m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := firehose.New(tt.give)
			if err == nil {
				t.Fatalf("New = %v, want an error", s)
			}
			if !strings.HasPrefix(err.Error(), "firehose audit destination: ") {
				t.Errorf("err = %v, want it to name the destination", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err lacks %q: %v", w, err)
				}
			}
		})
	}
}

// The records' data is base64 on the wire, as the JSON 1.1 protocol
// encodes blobs.
func TestRecordsAreBase64OnTheWire(t *testing.T) {
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[{"RecordId":"r1"}]}`)
	}))
	defer srv.Close()
	f := &fakeFirehose{srv: srv}
	s, err := firehose.New(firehose.Config{DeliveryStream: stream, Client: f.client(t)})
	if err != nil {
		t.Fatal(err)
	}
	ev := audittest.Event(7)
	if err := s.Send(context.Background(), []audit.Event{ev}); err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(ev)
	want := `{"DeliveryStreamName":"latch-audit","Records":[{"Data":"` + base64.StdEncoding.EncodeToString(append(line, '\n')) + `"}]}`
	if string(body) != want {
		t.Errorf("body = %s\nwant   %s", body, want)
	}
}
