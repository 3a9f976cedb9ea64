// Package firehose is the audit destination that puts events into an Amazon
// Data Firehose (formerly Kinesis Data Firehose) stream with PutRecordBatch.
// Each record is one event (schema version 1) as a line of JSON ending in a
// newline, so the objects Firehose writes to S3 are JSON Lines.
package firehose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/latch"
)

// PutRecordBatch's limits, which cannot be changed: 500 records per call,
// 1,000 KiB of data per record before base64 encoding, 4 MB per call.
const (
	MaxRecordsPerCall = 500       // records in one call
	MaxRecordBytes    = 1_024_000 // one record's data: its event's JSON and the newline
	// MaxCallBytes bounds a call's records as sent: their base64-encoded
	// data and the JSON around it. Counting encoded bytes against 4,000,000
	// keeps a call under 4 MB whichever way the limit is counted.
	MaxCallBytes = 4_000_000
)

const (
	recordOverhead   = len(`{"Data":""},`)
	requestOverhead  = len(`{"DeliveryStreamName":"","Records":[]}`)
	maxResponseBytes = 1 << 20 // a full answer for 500 records is far smaller
	maxErrorText     = 200
	defaultTimeout   = 10 * time.Second
	maxTimeout       = 5 * time.Minute
)

// Error codes of the *latch.Error values Send returns.
const (
	CodeRejected     = "firehose_rejected"      // Firehose refused the call (a 4xx: no such stream, access denied, invalid argument): permanent
	CodeServerError  = "firehose_error"         // Firehose failed the call (ServiceUnavailableException, throttling, a 5xx): retryable
	CodeRecordFailed = "firehose_record_failed" // the call succeeded but some records were not taken: retryable
	CodeUnreachable  = "firehose_unreachable"   // no answer (connection failed, timeout, unreadable answer): retryable
	CodeBadEvent     = "firehose_bad_event"     // the event is not JSON, or over MaxRecordBytes: permanent
)

// API is the part of *firehose.Client a Sink uses.
type API interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

var _ API = (*firehose.Client)(nil)

// Config configures a Sink.
type Config struct {
	// DeliveryStream is the name (not the ARN) of the Firehose stream.
	// Required.
	DeliveryStream string
	// Client makes the calls; required. Build it from the Lambda's or the
	// server's AWS configuration (firehose.NewFromConfig), in the stream's
	// region; the role needs firehose:PutRecordBatch on the stream. Its
	// retryer is not used: Send makes each call once.
	Client API
	// Timeout bounds each call. Zero means 10 seconds; at most 5 minutes.
	Timeout time.Duration
}

// Sink puts audit events into a Firehose stream. It is safe for concurrent
// use and never retries: the caller retries the events Send reports as
// failed.
type Sink struct {
	stream  string
	client  API
	timeout time.Duration
}

var _ audit.Sink = (*Sink)(nil)

// New returns a Sink for c. It fails, naming each setting that is wrong,
// when c is not valid.
func New(c Config) (*Sink, error) {
	var problems []string
	name := c.DeliveryStream
	switch {
	case name == "":
		problems = append(problems, "DeliveryStream is required: the name of the Firehose stream")
	case strings.HasPrefix(name, "arn:"):
		problems = append(problems, fmt.Sprintf("DeliveryStream %q is an ARN; give the stream's name (the part after \"deliverystream/\")", name))
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' }):
		problems = append(problems, fmt.Sprintf("DeliveryStream %q holds a space, a slash or a control character; give the stream's name", name))
	}
	if c.Client == nil {
		problems = append(problems, "Client is required: a Firehose client (firehose.NewFromConfig) in the stream's region")
	}
	timeout := c.Timeout
	switch {
	case timeout < 0:
		problems = append(problems, fmt.Sprintf("Timeout %s is negative", timeout))
	case timeout == 0:
		timeout = defaultTimeout
	case timeout > maxTimeout:
		problems = append(problems, fmt.Sprintf("Timeout %s is longer than %s", timeout, maxTimeout))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("firehose audit destination: %s", strings.Join(problems, "; "))
	}
	return &Sink{stream: name, client: c.Client, timeout: timeout}, nil
}

// Name returns "firehose".
func (s *Sink) Name() string { return "firehose" }

// Send puts events into the stream, in the order given, one record each, in
// as few PutRecordBatch calls as the limits allow (MaxRecordsPerCall records
// and MaxCallBytes per call). A failed call does not stop the next ones.
//
// It returns nil when every record was taken. Otherwise it returns a
// *audit.PartialError naming exactly the events not taken — those of calls
// that failed, and those the answer of a successful call gives an ErrorCode
// (Firehose counts them in FailedPutCount) — or, when none was taken, the
// error itself. Errors are *latch.Error values with one of the Code
// constants. A call Firehose refuses as the caller's fault (a 4xx: no such
// stream, access denied, invalid argument, a KMS key it cannot use) is
// marked latch.Permanent; ServiceUnavailableException, throttling, other
// server errors, per-record errors, timeouts and failed connections are
// retryable. An event that cannot be encoded, or whose record would be over
// MaxRecordBytes, can never be put: it is not sent and fails permanently,
// with an error naming its id. A PartialError's Err is permanent only when
// every failure is. When ctx is done, the calls not yet made fail with
// ctx's error.
func (s *Sink) Send(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	var fails audit.Failures
	var records []types.Record
	var indexes []int
	size := requestOverhead + len(s.stream)
	flush := func() {
		if len(records) == 0 {
			return
		}
		s.put(ctx, records, indexes, &fails)
		records, indexes, size = nil, nil, requestOverhead+len(s.stream)
	}
	for i, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			fails.Refuse(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadEvent,
				Message: fmt.Sprintf("Audit event %s cannot be encoded as JSON.", e.ID), Err: err}, i)
			continue
		}
		data := append(b, '\n')
		if len(data) > MaxRecordBytes {
			fails.Refuse(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadEvent,
				Message: fmt.Sprintf("Audit event %s is %d bytes as a record; Firehose takes at most %d, so it is not sent.",
					e.ID, len(data), MaxRecordBytes)}, i)
			continue
		}
		n := (len(data)+2)/3*4 + recordOverhead
		if len(records) == MaxRecordsPerCall || size+n > MaxCallBytes {
			flush()
		}
		records = append(records, types.Record{Data: data})
		indexes = append(indexes, i)
		size += n
	}
	flush()
	return fails.Err(len(events))
}

// put makes one PutRecordBatch call for records, the events at indexes,
// and adds what failed to fails.
func (s *Sink) put(ctx context.Context, records []types.Record, indexes []int, fails *audit.Failures) {
	if ctx.Err() != nil {
		fails.Add(fmt.Errorf("firehose: %d records not sent: %w", len(records), ctx.Err()), indexes...)
		return
	}
	callCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out, err := s.client.PutRecordBatch(callCtx, &firehose.PutRecordBatchInput{
		DeliveryStreamName: aws.String(s.stream),
		Records:            records,
	}, callOptions)
	if err != nil {
		fails.Add(s.callError(ctx, err, len(records)), indexes...)
		return
	}
	if aws.ToInt32(out.FailedPutCount) == 0 {
		return
	}
	var failed []int
	var first types.PutRecordBatchResponseEntry
	if len(out.RequestResponses) == len(records) {
		for k, r := range out.RequestResponses {
			if aws.ToString(r.ErrorCode) != "" {
				if failed == nil {
					first = r
				}
				failed = append(failed, indexes[k])
			}
		}
	}
	if len(failed) == 0 {
		// An answer that does not match the records, or FailedPutCount
		// without an ErrorCode: trust the count.
		fails.Add(&latch.Error{Kind: latch.KindInternal, Code: CodeRecordFailed,
			Message: fmt.Sprintf("Firehose did not take %d of %d records put into stream %s, and its answer does not say which.",
				aws.ToInt32(out.FailedPutCount), len(records), s.stream)}, indexes...)
		return
	}
	fails.Add(&latch.Error{Kind: latch.KindInternal, Code: CodeRecordFailed,
		Message: fmt.Sprintf("Firehose did not take %d of %d records put into stream %s (first: %s%s).",
			len(failed), len(records), s.stream, aws.ToString(first.ErrorCode), text(": ", aws.ToString(first.ErrorMessage)))}, failed...)
}

// callOptions makes a call once, without the client's retries (the caller
// retries the events), and bounds how much of the answer is read.
func callOptions(o *firehose.Options) {
	o.Retryer = aws.NopRetryer{}
	if o.HTTPClient != nil {
		o.HTTPClient = boundedClient{next: o.HTTPClient}
	}
}

// callError describes a failed call.
func (s *Sink) callError(parent context.Context, err error, n int) error {
	if parent.Err() != nil {
		return fmt.Errorf("firehose: %d records not sent: %w", n, parent.Err())
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae apiError
	if errors.As(err, &ae) {
		what := ae.ErrorCode() + text(": ", ae.ErrorMessage())
		if retryableCode(ae.ErrorCode()) || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
			kind := latch.KindInternal
			if strings.Contains(ae.ErrorCode(), "Throttl") || status == http.StatusTooManyRequests {
				kind = latch.KindTooMany
			}
			return &latch.Error{Kind: kind, Code: CodeServerError,
				Message: fmt.Sprintf("Firehose failed to take %d records into stream %s: %s", n, s.stream, what), Err: err}
		}
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
			Message: fmt.Sprintf("Firehose refused %d records for stream %s: %s%s", n, s.stream, what, hint(ae.ErrorCode())), Err: err})
	}
	if status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
			Message: fmt.Sprintf("Firehose refused %d records for stream %s: HTTP %d.", n, s.stream, status), Err: err})
	}
	if status != 0 {
		return &latch.Error{Kind: latch.KindInternal, Code: CodeServerError,
			Message: fmt.Sprintf("Firehose failed to take %d records into stream %s: HTTP %d.", n, s.stream, status), Err: err}
	}
	msg := fmt.Sprintf("Could not reach Firehose to put %d records into stream %s.", n, s.stream)
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("Firehose did not answer within %s to put %d records into stream %s.", s.timeout, n, s.stream)
	}
	return &latch.Error{Kind: latch.KindInternal, Code: CodeUnreachable, Message: msg, Err: err}
}

// hint says what to check after a refusal with code.
func hint(code string) string {
	switch {
	case code == "ResourceNotFoundException":
		return " (check DeliveryStream, and that the client is in the stream's region)"
	case strings.Contains(code, "AccessDenied") || strings.Contains(code, "Unrecognized") || strings.Contains(code, "Signature"):
		return " (check the client's credentials, and that its role may firehose:PutRecordBatch on the stream)"
	}
	return ""
}

// apiError is what the SDK's errors from an AWS answer (smithy.APIError)
// tell: the error code and message.
type apiError interface {
	error
	ErrorCode() string
	ErrorMessage() string
}

// retryableCode reports whether an error code says "try again later".
func retryableCode(code string) bool {
	switch code {
	case "ServiceUnavailableException", "InternalFailure", "InternalFailureException", "ServiceUnavailable",
		"ThrottlingException", "Throttling", "RequestTimeout", "RequestTimeoutException", "LimitExceededException":
		return true
	}
	return false
}

// text renders an error message from Firehose on one line, at most
// maxErrorText bytes, after prefix; it is empty for an empty message.
func text(prefix, msg string) string {
	msg = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(msg, "\uFFFD"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if msg == "" {
		return ""
	}
	if len(msg) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return prefix + msg
}

// boundedClient reads an answer whole before the SDK sees it, at most
// maxResponseBytes of it: a longer one fails the call (retryable, like a
// connection that broke). Reading it here, rather than while the SDK
// decodes, keeps the verdict the same however the connection ends.
type boundedClient struct{ next firehose.HTTPClient }

func (b boundedClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := b.next.Do(r)
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("firehose: read the answer: %w", err)
	}
	if len(body) > maxResponseBytes {
		return nil, errAnswerTooLong
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	return resp, nil
}

// errAnswerTooLong is the error of an answer over maxResponseBytes.
var errAnswerTooLong = fmt.Errorf("firehose: answer longer than %d bytes", maxResponseBytes)
