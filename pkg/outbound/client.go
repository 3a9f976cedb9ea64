package outbound

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// ConnsPerHost bounds the connections one client made by NewClient opens to
// one host, and how many of them it keeps open between calls: a burst of
// calls to a webhook or to Slack queues for a connection rather than opening
// one per call, and every connection opened is reused (keep-alive) instead
// of being left in TIME_WAIT.
const ConnsPerHost = 16

// idleTimeout is how long an unused connection is kept.
const idleTimeout = 90 * time.Second

// NewClient returns an HTTP client for calls out to other services (Slack,
// webhooks, hooks, audit destinations) whose transport keeps connections
// alive and reuses them: at most ConnsPerHost per destination host, all of
// them kept idle between calls. Every response body is drained (up to 64
// KiB) when closed, so a caller that stops reading early does not cost the
// connection. timeout bounds each call (0: none). It is not for the AWS
// SDK, which builds its own client (AWS_CA_BUNDLE).
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: newTransport(), Timeout: timeout}
}

// newTransport is the transport NewClient's clients use: the default
// transport's settings (proxy from the environment, dial and TLS timeouts,
// HTTP/2) with connections reused per host.
func newTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = ConnsPerHost
	t.MaxIdleConnsPerHost = ConnsPerHost
	t.MaxIdleConns = 4 * ConnsPerHost
	t.IdleConnTimeout = idleTimeout
	return drainTransport{t}
}

var (
	sharedOnce   sync.Once
	sharedClient *http.Client
)

// SharedClient is the one NewClient client that Senders given no client
// share, so that connections are reused across Senders to the same host. It
// sets no timeout of its own: each Sender bounds its calls (WithTimeout).
func SharedClient() *http.Client {
	sharedOnce.Do(func() { sharedClient = NewClient(0) })
	return sharedClient
}

// drainTransport drains each response body before closing it: a body closed
// before its end closes its connection.
type drainTransport struct{ base http.RoundTripper }

func (t drainTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	// A 101 answer's body is the upgraded connection itself: left as it is.
	if err != nil || resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, err
	}
	resp.Body = &drainingBody{ReadCloser: resp.Body}
	return resp, nil
}

// CloseIdleConnections closes the base transport's idle connections
// (http.Client.CloseIdleConnections).
func (t drainTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

type drainingBody struct {
	io.ReadCloser
	once sync.Once
}

func (b *drainingBody) Close() error {
	var err error
	b.once.Do(func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(b.ReadCloser, maxDrain))
		err = b.ReadCloser.Close()
	})
	return err
}
