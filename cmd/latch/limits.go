package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// serverLimits bound what callers of latch server's port can hold: how long
// a request may take to arrive and its answer to leave, how long an idle
// connection stays, and how many connections are open at once. The grant
// runner's own work (escalator and hook calls, the store) is kept apart: the
// connection cap leaves fdReserve file descriptors of the process's limit
// to it.
type serverLimits struct {
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	maxConns          int
}

// fdReserve is the number of file descriptors the connection cap leaves to
// everything but inbound connections: the store, logs, and the grant
// runner's outbound calls (at most outboundConnsPerHost per escalator or hook
// host, reused across calls).
const fdReserve = 128

// minConns is the smallest connection cap latch server starts with.
const minConns = 8

func addLimitFlags(cmd *cobra.Command, l *serverLimits) {
	f := cmd.Flags()
	f.DurationVar(&l.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time a caller has to send a request's headers")
	f.DurationVar(&l.readTimeout, "read-timeout", 30*time.Second, "time a caller has to send a whole request, body included")
	f.DurationVar(&l.writeTimeout, "write-timeout", 30*time.Second,
		"time an answer may take, from the end of the request's headers (the wait route and backups set their own)")
	f.DurationVar(&l.idleTimeout, "idle-timeout", 60*time.Second, "time an idle keep-alive connection stays open")
	f.IntVar(&l.maxConns, "max-conns", 512,
		fmt.Sprintf("most connections open at once; lowered to the open-file limit less %d kept for the grant runner", fdReserve))
}

func (l serverLimits) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--read-header-timeout", l.readHeaderTimeout}, {"--read-timeout", l.readTimeout},
		{"--write-timeout", l.writeTimeout}, {"--idle-timeout", l.idleTimeout}} {
		if d.v <= 0 {
			return usageError{fmt.Errorf("%s must be more than 0s, got %s", d.name, d.v)}
		}
	}
	if l.maxConns < minConns {
		return usageError{fmt.Errorf("--max-conns must be at least %d, got %d", minConns, l.maxConns)}
	}
	return nil
}

// connCap is the connection cap: --max-conns, lowered so that fdReserve
// descriptors of the open-file limit stay free. It fails when the limit
// leaves fewer than minConns.
func (l serverLimits) connCap() (int, error) {
	limit, ok := openFileLimit()
	if !ok {
		return l.maxConns, nil
	}
	n := min(l.maxConns, limit-fdReserve)
	if n < minConns {
		return 0, fmt.Errorf("the process may open only %d files (ulimit -n); latch server needs at least %d (%d kept for the grant runner, %d for connections): raise the limit",
			limit, fdReserve+minConns, fdReserve, minConns)
	}
	return n, nil
}

// server returns the http.Server with l's timeouts, tracking connections for
// ln.
func (l serverLimits) server(h http.Handler, ln *limitListener, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.readHeaderTimeout,
		ReadTimeout:       l.readTimeout,
		WriteTimeout:      l.writeTimeout,
		IdleTimeout:       l.idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnState:         ln.track,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// limitListener holds at most max connections open. When a connection
// arrives at the cap, the connection that has waited longest without a
// request under way (a new one whose request has not fully arrived, or an
// idle keep-alive one) is closed to make room: a flood of slow or idle
// connections cannot keep a health check or an API call out. When every
// connection has a request under way, Accept waits until one ends; new
// callers wait in the kernel's queue meanwhile (all but one, accepted and
// held unserved), using no descriptor of ours.
type limitListener struct {
	net.Listener
	max int
	log *slog.Logger

	mu      sync.Mutex
	cond    *sync.Cond
	conns   map[net.Conn]*connInfo
	seq     uint64
	closed  bool
	evicted int
}

type connInfo struct {
	seq  uint64 // order of arrival or of the last request's end
	busy bool   // a request is under way
}

func newLimitListener(ln net.Listener, max int, log *slog.Logger) *limitListener {
	l := &limitListener{Listener: ln, max: max, log: log, conns: map[net.Conn]*connInfo{}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// Accept waits for room, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	for len(l.conns) >= l.max && l.oldestWaiting() == nil && !l.closed {
		l.cond.Wait()
	}
	l.mu.Unlock()
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &limitConn{Conn: c, l: l}
	l.mu.Lock()
	var evict net.Conn
	for len(l.conns) >= l.max && !l.closed {
		// Every slot filled since the wait above: make room, or wait for
		// it (the connection accepted is not served meanwhile).
		if evict = l.oldestWaiting(); evict != nil {
			delete(l.conns, evict)
			l.evicted++
			break
		}
		l.cond.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		_ = c.Close()
		return nil, net.ErrClosed
	}
	l.seq++
	l.conns[lc] = &connInfo{seq: l.seq}
	evicted := l.evicted
	l.mu.Unlock()
	if evict != nil {
		_ = evict.Close()
		if evicted == 1 || evicted%1000 == 0 {
			l.log.Warn("connection cap reached: closing the connections that waited longest without a request",
				"cap", l.max, "closed_so_far", evicted)
		}
	}
	return lc, nil
}

// Close stops accepting and wakes a waiting Accept.
func (l *limitListener) Close() error {
	l.mu.Lock()
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// oldestWaiting returns the open connection without a request under way
// that has waited longest, or nil. l.mu is held.
func (l *limitListener) oldestWaiting() net.Conn {
	var (
		oldest net.Conn
		seq    uint64
	)
	for c, ci := range l.conns {
		if !ci.busy && (oldest == nil || ci.seq < seq) {
			oldest, seq = c, ci.seq
		}
	}
	return oldest
}

// track follows the server's view of each connection (http.Server.ConnState).
func (l *limitListener) track(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn() // served over TLS: the connection Accept handed out is underneath
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ci, ok := l.conns[c]
	switch st {
	case http.StateActive:
		if ok {
			ci.busy = true
		}
	case http.StateIdle:
		if ok {
			l.seq++
			ci.busy, ci.seq = false, l.seq
		}
	case http.StateHijacked, http.StateClosed:
		delete(l.conns, c)
	}
	l.cond.Broadcast()
}

func (l *limitListener) release(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.cond.Broadcast()
	l.mu.Unlock()
}

// limitConn gives its slot back when closed.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// outboundConnsPerHost bounds the connections the grant runner and hooks
// keep to one host; they are reused across calls.
const outboundConnsPerHost = 32

// outboundClient is the HTTP client of escalators and hooks: one transport,
// so that connections to a target are reused rather than opened per call,
// and bounded per host, so that a burst of revokes cannot use the
// descriptors fdReserve keeps.
func outboundClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = outboundConnsPerHost
	t.MaxConnsPerHost = outboundConnsPerHost
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}
