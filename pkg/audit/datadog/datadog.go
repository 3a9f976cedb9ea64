// Package datadog is the audit destination that sends events to Datadog Log
// Management through its logs intake HTTP API v2
// (POST https://http-intake.logs.<site>/api/v2/logs).
//
// Each event becomes one log: the whole event (schema version 1) is the
// log's "audit" attribute, so every field is a facet (@audit.type,
// @audit.actor.email, @audit.request_id, ...), and the log's message is a
// short line for people. docs/audit.md shows a log in full.
package datadog

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/outbound"
)

// Datadog's limits on one call to the logs intake ("Send logs", API v2):
// 5 MB uncompressed per payload, 1 MB per log, 1000 logs per array. The
// sink counts in decimal megabytes, the smaller reading.
const (
	MaxLogsPerBatch = 1000      // logs in one call
	MaxBatchBytes   = 5_000_000 // bytes of one call's JSON array, before compression
	MaxLogBytes     = 1_000_000 // bytes of one log's JSON
)

const (
	maxRead          = 4 << 10  // how much of an answer is read to find that text
	maxDrain         = 64 << 10 // how much more is read and dropped so the connection can be reused
	userAgent        = "latch-audit"
	headerAPIKey     = "DD-API-KEY"
	statusError      = "error"
	statusInfo       = "info"
	systemActorLabel = "latch"
)

// Error codes of the *latch.Error values Send returns.
const (
	CodeRejected    = "datadog_rejected"    // the intake answered 4xx (not 408, 413 or 429), or redirected: permanent
	CodeServerError = "datadog_error"       // the intake answered 5xx, 408, 413 or 429: retryable
	CodeTimeout     = "datadog_timeout"     // no answer within Config.Timeout: retryable
	CodeUnreachable = "datadog_unreachable" // the connection failed: retryable
	CodeBadEvent    = "datadog_bad_event"   // the event is not JSON, or its log is over MaxLogBytes: permanent
)

// Log is one log as the sink sends it: an element of the JSON array POSTed
// to the intake.
type Log struct {
	DDSource string      `json:"ddsource"`
	DDTags   string      `json:"ddtags,omitempty"`
	Hostname string      `json:"hostname,omitempty"`
	Service  string      `json:"service"`
	Status   string      `json:"status"`  // "error" for failed and deescalation_failed, else "info"
	Message  string      `json:"message"` // see Message
	Audit    audit.Event `json:"audit"`
}

// Sink sends audit events to Datadog. It is safe for concurrent use and
// never retries: the caller retries the events Send reports as failed.
type Sink struct {
	cfg    settings
	client *http.Client
}

var _ audit.Sink = (*Sink)(nil)

// New returns a Sink for c. It fails, naming each setting that is wrong,
// when c is not valid.
func New(c Config) (*Sink, error) {
	s, problems := check(c)
	if len(problems) > 0 {
		return nil, fmt.Errorf("datadog audit destination: %s", strings.Join(problems, "; "))
	}
	client := c.HTTPClient
	if client == nil {
		client = outbound.SharedClient() // connections reused across batches
	}
	hc := *client
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Sink{cfg: s, client: &hc}, nil
}

// Name returns "datadog".
func (s *Sink) Name() string { return "datadog" }

// Send sends events as logs, in the order given, in as few calls as
// Datadog's limits allow (MaxLogsPerBatch logs and MaxBatchBytes bytes of
// JSON per call), gzip-compressed. Each call succeeds or fails as a whole,
// and a failed call does not stop the next ones.
//
// It returns nil when every call was accepted (any 2xx; Datadog answers
// 202). Otherwise it returns a *audit.PartialError naming the events of the
// calls that failed, or, when none was accepted, the error itself. Errors
// are *latch.Error values with one of the Code constants: a 4xx other than
// 408, 413 and 429 (400 bad payload, 401 or 403 a missing or wrong API
// key, or a key of another site), or a redirect, is marked latch.Permanent;
// a 5xx, 408, 413, 429, a timeout or a failed connection is retryable. An
// event whose log cannot be encoded or is over MaxLogBytes (Datadog would
// truncate it) is never sent and fails permanently. A PartialError's Err is
// permanent only when every failure is. When ctx is done, the calls not yet
// made fail with ctx's error.
func (s *Sink) Send(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	var fails audit.Failures
	type encoded struct {
		index int
		log   []byte
	}
	var logs []encoded
	for i, e := range events {
		b, err := json.Marshal(s.log(e))
		switch {
		case err != nil:
			fails.Refuse(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadEvent,
				Message: fmt.Sprintf("Audit event %s cannot be encoded as JSON.", e.ID), Err: err}, i)
		case len(b) > MaxLogBytes:
			fails.Refuse(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadEvent,
				Message: fmt.Sprintf("Audit event %s is %d bytes as a Datadog log; Datadog truncates logs over %d bytes, so it is not sent.",
					e.ID, len(b), MaxLogBytes)}, i)
		default:
			logs = append(logs, encoded{i, b})
		}
	}

	// Cut batches within the limits and send them in order.
	var batch [][]byte
	var indexes []int
	size := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		var err error
		if ctx.Err() != nil {
			err = fmt.Errorf("datadog: not sent: %w", ctx.Err())
		} else {
			err = s.post(ctx, batch)
		}
		if err != nil {
			fails.Add(err, indexes...)
		}
		batch, indexes, size = nil, nil, 0
	}
	for _, l := range logs {
		// "[" and "]" around the array, "," between logs.
		if len(batch) == MaxLogsPerBatch || size+len(l.log)+1+2 > MaxBatchBytes {
			flush()
		}
		batch = append(batch, l.log)
		indexes = append(indexes, l.index)
		size += len(l.log) + 1
	}
	flush()
	return fails.Err(len(events))
}

// log returns e as a Datadog log.
func (s *Sink) log(e audit.Event) Log {
	status := statusInfo
	if e.Type == string(latch.AuditFailed) || e.Type == string(latch.AuditDeescalationFailed) {
		status = statusError
	}
	return Log{DDSource: s.cfg.source, DDTags: s.cfg.tags, Hostname: s.cfg.hostname, Service: s.cfg.service,
		Status: status, Message: Message(e), Audit: e}
}

// Message returns the line a log shows for e: its type, its request, its
// target and who acted, for example
// "approved request req_01 on db-admin by lead@example.com".
func Message(e audit.Event) string {
	var b strings.Builder
	b.WriteString(e.Type)
	if e.RequestID != "" {
		b.WriteString(" request " + e.RequestID)
	}
	if e.Target != "" {
		b.WriteString(" on " + e.Target)
	}
	switch a := e.Actor; {
	case a.Bot != "" && a.Email != "":
		b.WriteString(" by bot " + a.Bot + " for " + a.Email)
	case a.Bot != "":
		b.WriteString(" by bot " + a.Bot)
	case a.Email != "":
		b.WriteString(" by " + a.Email)
	default:
		b.WriteString(" by " + systemActorLabel)
	}
	return b.String()
}

// post sends one batch of encoded logs.
func (s *Sink) post(ctx context.Context, logs [][]byte) error {
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = zw.Write([]byte{'['})
	for i, l := range logs {
		if i > 0 {
			_, _ = zw.Write([]byte{','})
		}
		_, _ = zw.Write(l)
	}
	_, _ = zw.Write([]byte{']'})
	if err := zw.Close(); err != nil { // writes to a bytes.Buffer do not fail
		return fmt.Errorf("datadog: compress: %w", err)
	}

	callCtx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, s.cfg.url, &body)
	if err != nil {
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
			Message: "Cannot build the call to Datadog's logs intake.", Err: err})
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(headerAPIKey, s.cfg.apiKey)

	resp, err := s.client.Do(req)
	if err != nil {
		return s.transportError(ctx, err, len(logs))
	}
	defer resp.Body.Close()
	head, readErr := io.ReadAll(io.LimitReader(resp.Body, maxRead))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))

	status := resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		return nil
	case status >= 300 && status < 400:
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
			Message: fmt.Sprintf("Datadog's logs intake at %s answered %s, a redirect, to %d logs; redirects are not followed, so check Site or Endpoint.",
				s.cfg.host, statusText(status), len(logs))})
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return latch.Permanent(&latch.Error{Kind: latch.KindUnauthorized, Code: CodeRejected,
			Message: fmt.Sprintf("Datadog's logs intake at %s refused the API key (%s%s); check APIKey, and that Site is the key's site.",
				s.cfg.host, statusText(status), outbound.Excerpt(head, readErr))})
	case status >= 400 && status < 500 && !retryable4xx(status):
		return latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRejected,
			Message: fmt.Sprintf("Datadog's logs intake at %s refused %d logs: %s%s",
				s.cfg.host, len(logs), statusText(status), outbound.Excerpt(head, readErr))})
	}
	kind := latch.KindInternal
	if status == http.StatusTooManyRequests {
		kind = latch.KindTooMany
	}
	return &latch.Error{Kind: kind, Code: CodeServerError,
		Message: fmt.Sprintf("Datadog's logs intake at %s failed to take %d logs: %s%s",
			s.cfg.host, len(logs), statusText(status), outbound.Excerpt(head, readErr))}
}

// retryable4xx reports whether Datadog documents a 4xx status as one to
// retry after some time.
func retryable4xx(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusRequestEntityTooLarge || status == http.StatusTooManyRequests
}

// transportError describes a call that got no answer. It is retryable.
func (s *Sink) transportError(parent context.Context, err error, n int) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if parent.Err() != nil {
		return fmt.Errorf("datadog: %d logs not sent: %w", n, parent.Err())
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &latch.Error{Kind: latch.KindInternal, Code: CodeTimeout,
			Message: fmt.Sprintf("Datadog's logs intake at %s did not answer within %s.", s.cfg.host, s.cfg.timeout), Err: err}
	}
	return &latch.Error{Kind: latch.KindInternal, Code: CodeUnreachable,
		Message: fmt.Sprintf("Could not reach Datadog's logs intake at %s.", s.cfg.host), Err: err}
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("%d %s", status, t)
	}
	return fmt.Sprintf("%d", status)
}
