package httpapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/tokens"
)

// TestRefusalDoesNotReadTheBody sends an unauthenticated POST that announces
// a large body and sends only its start: the 401 comes without the server
// waiting for the rest, and the connection is closed after it.
func TestRefusalDoesNotReadTheBody(t *testing.T) {
	for _, tt := range []struct {
		name, path, header string
	}{
		{"no token, declared length", "/v1/requests", "Content-Length: 10000000\r\n"},
		{"no token, chunked", "/v1/requests", "Transfer-Encoding: chunked\r\n"},
		{"bad token", "/v1/requests/r1/approve", "Authorization: Bearer nope\r\nContent-Length: 10000000\r\n"},
		{"unknown route", "/v2/nothing", "Content-Length: 10000000\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			s := &Server{Auth: &Tokens{Bootstrap: NewStaticToken("admin-token"), Service: &tokens.Service{Store: store}}}
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The body's first bytes only; the rest never comes.
			first := strings.Repeat("x", 1000)
			if strings.Contains(tt.header, "chunked") {
				first = "3e8\r\n" + first + "\r\n"
			}
			if _, err := io.WriteString(conn, "POST "+tt.path+" HTTP/1.1\r\nHost: x\r\n"+tt.header+"\r\n"+first); err != nil {
				t.Fatal(err)
			}
			// A generous bound: the server must not wait for the body at all,
			// and without the fix it waits for ever.
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is unfinished: %v", err)
			}
			want := http.StatusUnauthorized
			if tt.path == "/v2/nothing" {
				want = http.StatusNotFound
			}
			if resp.StatusCode != want || !resp.Close {
				t.Errorf("answer %d, close %v; want %d and the connection closed", resp.StatusCode, resp.Close, want)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the answer the connection gave %v, want EOF (closed)", err)
			}
		})
	}
}
