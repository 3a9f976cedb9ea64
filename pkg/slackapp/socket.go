package slackapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Socket Mode: instead of Slack calling Latch over HTTPS, Latch opens a
// WebSocket to Slack (apps.connections.open with the app-level token,
// xapp-…) and Slack sends the same payloads over it, each in an envelope
// that Latch acknowledges with the answer an HTTP call would have had. A
// team can so run Latch against its real workspace from a laptop with no
// public URL. The connection is trusted because Latch opened it with its
// own token; there is no request signature to check.

// envelope is one Socket Mode message from Slack.
type envelope struct {
	Type                   string          `json:"type"` // hello, disconnect, slash_commands, interactive, events_api
	EnvelopeID             string          `json:"envelope_id"`
	Payload                json.RawMessage `json:"payload"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	Reason                 string          `json:"reason"` // disconnect
}

// ack is Latch's answer to an envelope.
type ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// RunSocketMode connects to Slack by Socket Mode with the app-level token
// and serves what arrives until ctx ends, reconnecting when Slack asks to
// or the connection drops (waiting up to a minute between failed tries).
func (a *App) RunSocketMode(ctx context.Context, appToken string) error {
	a.init()
	routes := a.routes()
	wait := time.Second
	for {
		err := a.socketSession(ctx, appToken, routes)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			a.Log.WarnContext(ctx, "slack socket mode connection ended; reconnecting", "err", err, "in", wait)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Minute)
			continue
		}
		wait = time.Second // Slack asked to reconnect: do so at once
	}
}

// socketSession opens one connection and serves it until it ends. It
// returns nil when Slack asked to reconnect.
func (a *App) socketSession(ctx context.Context, appToken string, routes http.Handler) error {
	wsURL, err := a.Slack.OpenSocket(ctx, appToken)
	if err != nil {
		return fmt.Errorf("open a socket mode connection: %w", err)
	}
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		return fmt.Errorf("connect to slack socket mode: %w", err)
	}
	conn.SetReadLimit(MaxBody)
	defer conn.CloseNow()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var env envelope
		if err := json.Unmarshal(msg, &env); err != nil {
			a.Log.WarnContext(ctx, "slack socket mode sent a message that is not JSON; ignored", "err", err)
			continue
		}
		switch env.Type {
		case "hello":
			a.Log.InfoContext(ctx, "slack socket mode connected")
			continue
		case "disconnect":
			a.Log.InfoContext(ctx, "slack socket mode asks to reconnect", "reason", env.Reason)
			return nil // the deferred CloseNow drops it; Slack retires it anyway
		}
		if env.EnvelopeID == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answer := a.serveEnvelope(ctx, routes, env)
			b, _ := json.Marshal(answer)
			if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
				a.Log.WarnContext(ctx, "could not acknowledge a socket mode envelope", "envelope", env.EnvelopeID, "err", err)
			}
		}()
	}
}

// serveEnvelope serves an envelope's payload through the same routes as
// HTTP, shaped as Slack would have posted it, and returns the
// acknowledgement carrying the route's answer.
func (a *App) serveEnvelope(ctx context.Context, routes http.Handler, env envelope) ack {
	out := ack{EnvelopeID: env.EnvelopeID}
	route, contentType, body, err := envelopeRequest(env)
	if err != nil {
		a.Log.WarnContext(ctx, "slack socket mode envelope not understood; acknowledged and dropped", "type", env.Type, "err", err)
		return out
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, route, bytes.NewReader(body))
	if err != nil {
		return out
	}
	req.Header.Set("Content-Type", contentType)
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	routes.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		a.Log.WarnContext(ctx, "slack socket mode envelope refused", "type", env.Type, "status", rec.status, "answer", rec.body.String())
		return out
	}
	if env.AcceptsResponsePayload && json.Valid(rec.body.Bytes()) {
		out.Payload = bytes.TrimSpace(rec.body.Bytes())
	}
	return out
}

// envelopeRequest turns an envelope into the route and body of the HTTP
// call Slack would have made.
func envelopeRequest(env envelope) (route, contentType string, body []byte, err error) {
	switch env.Type {
	case "slash_commands":
		var fields map[string]any
		if err := json.Unmarshal(env.Payload, &fields); err != nil {
			return "", "", nil, err
		}
		form := url.Values{}
		for k, v := range fields {
			switch x := v.(type) {
			case string:
				form.Set(k, x)
			case bool:
				form.Set(k, strconv.FormatBool(x))
			case float64:
				form.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
			}
		}
		return "/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode()), nil
	case "interactive":
		route := "/slack/interactions"
		var kind struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(env.Payload, &kind); err != nil {
			return "", "", nil, err
		}
		if kind.Type == InteractionBlockSuggestion {
			route = "/slack/options"
		}
		return route, "application/x-www-form-urlencoded", []byte(url.Values{"payload": {string(env.Payload)}}.Encode()), nil
	case "events_api":
		return "/slack/events", "application/json", env.Payload, nil
	}
	return "", "", nil, errors.New("unknown envelope type " + strconv.Quote(env.Type))
}

// recorder is the http.ResponseWriter of an envelope served in process.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }
