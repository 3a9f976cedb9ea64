package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveLimited serves h through a limitListener of max connections.
func serveLimited(t *testing.T, max int, h http.Handler) (*limitListener, string) {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(tcp, max, slog.New(slog.DiscardHandler))
	l := serverLimits{readHeaderTimeout: time.Minute, readTimeout: time.Minute, writeTimeout: time.Minute, idleTimeout: time.Minute}
	srv := l.server(h, ln, slog.New(slog.DiscardHandler))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln, tcp.Addr().String()
}

func get(t *testing.T, addr, path string) (*http.Response, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(c), nil)
}

func (l *limitListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// A flood of connections that send nothing cannot keep a call out: at the
// cap, the one that waited longest without a request is closed.
func TestLimitListenerClosesTheLongestWaitingIdleConnection(t *testing.T) {
	ln, addr := serveLimited(t, 4, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	var flood []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		flood = append(flood, c)
	}
	waitFor(t, func() bool { return ln.open() == 4 }, "the flood's 4 connections to be accepted")
	resp, err := get(t, addr, "/healthz")
	if err != nil {
		t.Fatalf("a call at the cap: %v", err)
	}
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "ok" {
		t.Errorf("answer %d %q", resp.StatusCode, b)
	}
	// The first of the flood was closed for it; the others are open.
	_ = flood[0].SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := flood[0].Read(make([]byte, 1)); err != io.EOF && !strings.Contains(fmtErr(err), "reset") {
		t.Errorf("the oldest idle connection: read gave %v, want it closed", err)
	}
	if n := ln.open(); n > 4 {
		t.Errorf("%d connections open, cap 4", n)
	}
}

// When every connection has a request under way, a new one waits for a
// slot instead of pushing one out.
func TestLimitListenerWaitsWhenEveryConnectionIsBusy(t *testing.T) {
	release := make(chan struct{})
	ln, addr := serveLimited(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	done := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := get(t, addr, "/slow")
			if err == nil {
				_, err = io.ReadAll(resp.Body)
			}
			done <- err
		}()
	}
	waitFor(t, func() bool {
		ln.mu.Lock()
		defer ln.mu.Unlock()
		busy := 0
		for _, ci := range ln.conns {
			if ci.busy {
				busy++
			}
		}
		return busy == 2
	}, "two busy connections")
	third := make(chan error, 1)
	go func() {
		resp, err := get(t, addr, "/fast")
		if err == nil && resp.StatusCode != 200 {
			err = io.ErrUnexpectedEOF
		}
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("a third call was served while both slots were busy (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("a busy call failed: %v", err)
		}
	}
	if err := <-third; err != nil {
		t.Errorf("the waiting call, once a slot was free: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestConnCapKeepsTheReserve(t *testing.T) {
	limit, ok := openFileLimit()
	if !ok {
		t.Skip("no open-file limit to read")
	}
	n, err := serverLimits{maxConns: 1 << 30}.connCap()
	if limit-fdReserve < minConns {
		if err == nil {
			t.Errorf("limit %d: connCap = %d, want an error", limit, n)
		}
		return
	}
	if err != nil || n != limit-fdReserve {
		t.Errorf("limit %d: connCap = %d, %v; want %d", limit, n, err, limit-fdReserve)
	}
}
