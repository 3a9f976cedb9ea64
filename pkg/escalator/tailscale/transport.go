package tailscale

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// StatusError is an answer of Tailscale's API with a status of 400 or more.
type StatusError struct {
	Status int
	// Message is Tailscale's message ({"message": ...}, or an OAuth
	// error's description), bounded; else the status text.
	Message string
	// RetryAfter is the Retry-After header, as sent.
	RetryAfter string
	// OAuth is set when the answer came from the OAuth token endpoint.
	OAuth bool
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("tailscale API: %d %s", e.Status, e.Message)
}

// wait returns how long Retry-After asks to wait (seconds, or an HTTP
// date), or 0 when it does not say.
func (e *StatusError) wait(now time.Time) time.Duration {
	s := strings.TrimSpace(e.RetryAfter)
	if s == "" {
		return 0
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(s); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// transport turns every answer with a status of 400 or more into a
// *StatusError, so that the status, the message and Retry-After reach the
// escalator whatever the body (the client keeps none of them for a body
// that is not JSON, and never the headers).
type transport struct {
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	res, err := base.RoundTrip(req)
	if err != nil || res.StatusCode < 400 {
		return res, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	se := &StatusError{Status: res.StatusCode, RetryAfter: res.Header.Get("Retry-After"),
		OAuth: strings.HasSuffix(req.URL.Path, "/oauth/token"), Message: errorMessage(body)}
	if se.Message == "" {
		se.Message = http.StatusText(res.StatusCode)
	}
	return nil, se
}

// errorMessage is the message of an error body: Tailscale's
// {"message": ...} or OAuth's {"error": ..., "error_description": ...},
// else the start of the text. It is outside text: bounded, one line.
func errorMessage(body []byte) string {
	var m struct {
		Message     string `json:"message"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	s := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &m) == nil {
		switch {
		case m.Message != "":
			s = m.Message
		case m.Description != "":
			s = m.Error + ": " + m.Description
		case m.Error != "":
			s = m.Error
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

// oauthClient authenticates with an OAuth client's credentials (the client
// credentials grant at {api_url}/api/v2/oauth/token), through the HTTP
// client the Tailscale client was given: token requests have its timeout
// and its error handling. Tokens are reused until they expire (an hour).
type oauthClient struct {
	id, secret string
}

func (o *oauthClient) HTTPClient(orig *http.Client, baseURL string) *http.Client {
	cfg := clientcredentials.Config{ClientID: o.id, ClientSecret: o.secret,
		TokenURL: strings.TrimRight(baseURL, "/") + "/api/v2/oauth/token"}
	// The token source outlives any one call, so it gets a context of its
	// own; the client carries the timeout.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, orig)
	return &http.Client{
		Transport:     &oauth2.Transport{Base: orig.Transport, Source: oauth2.ReuseTokenSource(nil, cfg.TokenSource(ctx))},
		CheckRedirect: orig.CheckRedirect,
		Jar:           orig.Jar,
		Timeout:       orig.Timeout,
	}
}
