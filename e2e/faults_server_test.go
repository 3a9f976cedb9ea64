package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// Faults a caller of latch server's port can cause: slow, idle and
// unauthenticated connections and a flood of them. In each, revokes stay on
// time. See docs/server.md.

// activeGrant asks for access for secs seconds, approves it and waits until
// it is active (the escalate call taken from tg).
func activeGrant(t *testing.T, c *client.Client, tg *target, who string, secs int) latch.Request {
	t.Helper()
	ctx := context.Background()
	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: who,
		Fields: map[string]any{"reason": "fault test", "duration": secs}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got := tg.next(30 * time.Second).Action; got != "escalate" {
		t.Fatalf("action = %q, want escalate", got)
	}
	return waitStatus(t, c, req.ID, latch.StatusActive, 30*time.Second)
}

// faultGrantSeconds is how long the grants of the fault tests last: long
// enough for their set-up (a flood, damaged records) to be in place before
// the end on a loaded machine, since the end is fixed at the approval.
const faultGrantSeconds = 30

// revokedOnTime waits for the deescalate of the grant of an active request
// and checks that it came within 5 seconds of the end: on time on a loaded
// machine, where a revoke call that failed and was retried (after 1 s, 2 s,
// 4 s) comes later.
func revokedOnTime(t *testing.T, tg *target, active latch.Request) {
	t.Helper()
	de := tg.next(time.Until(*active.EndsAt) + 30*time.Second)
	if de.Action != "deescalate" {
		t.Fatalf("action = %q, want deescalate", de.Action)
	}
	if late := de.At.Sub(*active.EndsAt); late < 0 || late > 5*time.Second {
		t.Errorf("deescalate came %s after the end, want within 0..5s", late)
	}
}

// dial opens a raw connection to the server.
func dial(t *testing.T, srv *server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads from c, discarding what comes, until the server closes
// it; it fails the test if c is still open after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("%s: still open after %s", what, limit)
	}
}

// trickle writes s one byte every interval until it is written or c fails.
func trickle(c net.Conn, s string, interval time.Duration) {
	for i := range len(s) {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

// TestSlowAndIdleConnectionsAreClosed: a caller sending its headers or its
// body a byte at a time, and a keep-alive connection left idle, are closed
// within the server's timeouts, while a grant's revoke stays on time.
func TestSlowAndIdleConnectionsAreClosed(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir(),
		"--read-header-timeout", "1s", "--read-timeout", "2s", "--idle-timeout", "2s", "--write-timeout", "5s")
	c := srv.client()
	active := activeGrant(t, c, tg, "bob@example.com", faultGrantSeconds)

	// Generous bounds: each timeout plus slack for a loaded machine. Without
	// the timeouts, each connection would stay open as long as its caller
	// likes.
	const slack = 10 * time.Second
	var wg sync.WaitGroup
	wg.Go(func() {
		conn := dial(t, srv)
		go trickle(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("a", 200)+"\r\n\r\n", 100*time.Millisecond)
		closedWithin(t, conn, time.Second+slack, "slow headers")
	})
	wg.Go(func() {
		conn := dial(t, srv)
		head := "POST /v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + adminToken +
			"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
		if _, err := io.WriteString(conn, head); err != nil {
			t.Error(err)
			return
		}
		go trickle(conn, `{"flow":"prod-access","user_email":"`+strings.Repeat("x", 990), 100*time.Millisecond)
		closedWithin(t, conn, 2*time.Second+slack, "slow body")
	})
	wg.Go(func() {
		conn := dial(t, srv)
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Error(err)
			return
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("idle: /healthz: %v", err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.Close {
			t.Errorf("idle: the server closed a keep-alive connection at once")
		}
		_ = conn.SetReadDeadline(time.Now().Add(2*time.Second + slack))
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("idle: the connection gave %v, want EOF (closed) within the idle timeout", err)
		}
	})
	revokedOnTime(t, tg, active)
	wg.Wait()
	waitStatus(t, c, active.ID, latch.StatusEnded, 30*time.Second)
}

// TestUnauthenticatedBodyIsNotRead: a call without a token that announces a
// huge body, or sends a chunked body that never ends, gets its 401 at once
// and the connection is closed; the server does not read the body at the
// pace the caller sends it.
func TestUnauthenticatedBodyIsNotRead(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir(),
		"--read-timeout", "60s")
	for _, tt := range []struct{ name, header, start string }{
		{"declared 1 GB", "Content-Length: 1000000000\r\n", strings.Repeat("{", 4096)},
		{"chunked, never ending", "Transfer-Encoding: chunked\r\n", "1000\r\n" + strings.Repeat("{", 4096) + "\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t, srv)
			if _, err := io.WriteString(conn, "POST /v1/requests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+tt.header+"\r\n"+tt.start); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() { // more body, slowly, for as long as the connection takes it
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					if _, err := io.WriteString(conn, "a"); err != nil {
						return
					}
				}
			}()
			// Well inside the 60 s read timeout: the answer must not wait for
			// the body.
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is still coming: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "missing_token") || !resp.Close {
				t.Errorf("answer %d %s (close %v), want 401 missing_token and the connection closed", resp.StatusCode, body, resp.Close)
			}
			closedWithin(t, conn, 20*time.Second, "after the 401")
		})
	}
	if _, err := srv.client().ListRequests(context.Background(), latch.RequestFilter{}); err != nil {
		t.Errorf("the server after the refusals: %v", err)
	}
}

// TestConnectionFloodKeepsHealthAndRevokes: with the process's open-file
// limit lowered to 256 (prlimit), a flood of 600 connections that send
// nothing, still growing while a grant ends, neither starves /healthz nor
// makes the revoke fail: the connection cap (256 less the reserve kept for
// the grant runner) closes the longest-waiting idle connections, and the
// runner opens its webhook connection from the reserve.
func TestConnectionFloodKeepsHealthAndRevokes(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	tg := newTarget(t)
	srv := startServerVia(t, []string{prlimit, "--nofile=256:256", "--"}, nil,
		writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	if !srv.logged("max_conns=128") {
		t.Fatalf("the server did not cap connections at 256-128:\n%s", srv.logs.String())
	}
	c := srv.client()
	active := activeGrant(t, c, tg, "bob@example.com", faultGrantSeconds)
	// The runner must open a new connection for the revoke, under the flood.
	tg.srv.CloseClientConnections()

	addr := strings.TrimPrefix(srv.URL, "http://")
	var mu sync.Mutex
	var flood []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, fc := range flood {
			fc.Close()
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopFlood := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopFlood()
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			fc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				// The kernel's queue is full: the flood goes on, without
				// spinning on a dial that fails at once.
				time.Sleep(20 * time.Millisecond)
				continue
			}
			mu.Lock()
			flood = append(flood, fc)
			n := len(flood)
			mu.Unlock()
			if n >= 600 {
				// Keep a steady stream of new connections through the end.
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(flood) >= 600 }, "600 flood connections")

	health := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 5 {
		resp, err := health.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatalf("/healthz under the flood (try %d): %v", i+1, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz under the flood = %d", resp.StatusCode)
		}
	}
	revokedOnTime(t, tg, active)
	stopFlood()
	waitStatus(t, c, active.ID, latch.StatusEnded, 30*time.Second)
	if !srv.logged("connection cap reached") {
		t.Errorf("the flood never reached the cap")
	}
	if strings.Contains(srv.logs.String(), "too many open files") {
		t.Errorf("the server ran out of file descriptors:\n%s", srv.logs.String())
	}
}

// TestWaitOutlivesTheWriteTimeout: the wait route sets its own deadlines,
// by design, so a long poll is not cut by --write-timeout.
func TestWaitOutlivesTheWriteTimeout(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir(),
		"--write-timeout", "1s", "--read-timeout", "1s")
	c := srv.client()
	req, err := c.CreateRequest(context.Background(), httpapi.CreateBody{Flow: "prod-access", UserEmail: "bob@example.com",
		Fields: map[string]any{"reason": "wait test"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := c.Wait(context.Background(), req.ID, 4*time.Second)
	if err != nil {
		t.Fatalf("a 4 s wait with a 1 s write timeout: %v", err)
	}
	if got.Status != latch.StatusPending || time.Since(start) < 4*time.Second {
		t.Errorf("wait answered %s after %s, want pending after the whole 4 s", got.Status, time.Since(start))
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 60s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
