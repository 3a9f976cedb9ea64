package slacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// AppToken is the app-level token (Socket Mode) the fake accepts for
// apps.connections.open.
const AppToken = "xapp-1-latch-test"

// serveSocket is the Socket Mode WebSocket: it greets the app with hello,
// as Slack does, and hands the connection to the test.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	hello := `{"type":"hello","num_connections":1,"debug_info":{"host":"applink-fake","approximate_connection_time":18060},"connection_info":{"app_id":"A0LATCH"}}`
	if err := conn.Write(r.Context(), websocket.MessageText, []byte(hello)); err != nil {
		return
	}
	s.mu.Lock()
	s.allConns = append(s.allConns, conn)
	s.mu.Unlock()
	s.sockets <- conn // the test owns the connection now; Cleanup closes it
}

// closeSockets closes every Socket Mode connection, at the end of the test.
func (s *Server) closeSockets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.allConns {
		_ = c.CloseNow()
	}
}

// socket waits for the app's Socket Mode connection.
func (s *Server) socket(tb testing.TB) *websocket.Conn {
	tb.Helper()
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn != nil {
		return conn
	}
	select {
	case conn = <-s.sockets:
	case <-time.After(10 * time.Second):
		tb.Fatal("the app did not connect by Socket Mode within 10s")
	}
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	return conn
}

// Envelope sends a Socket Mode envelope of type typ ("slash_commands",
// "interactive", "events_api") carrying payload, as Slack does, and returns
// the app's acknowledgement once it arrives.
func (s *Server) Envelope(tb testing.TB, typ string, payload any) map[string]any {
	tb.Helper()
	conn := s.socket(tb)
	s.mu.Lock()
	id := fmt.Sprintf("env-%d", s.next())
	s.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"envelope_id": id, "type": typ, "payload": payload,
		"accepts_response_payload": typ != "events_api", "retry_attempt": 0, "retry_reason": ""})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
		tb.Fatal(err)
	}
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			tb.Fatalf("no acknowledgement of %s: %v", id, err)
		}
		var ack map[string]any
		if err := json.Unmarshal(b, &ack); err != nil {
			tb.Fatalf("acknowledgement %q is not JSON", b)
		}
		if ack["envelope_id"] == id {
			return ack
		}
	}
}

// Disconnect asks the app to reconnect, as Slack does before it retires a
// connection; the next Envelope waits for the new connection.
func (s *Server) Disconnect(tb testing.TB) {
	tb.Helper()
	conn := s.socket(tb)
	s.mu.Lock()
	s.conn = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"applink-fake"}}`)); err != nil {
		tb.Fatal(err)
	}
}
