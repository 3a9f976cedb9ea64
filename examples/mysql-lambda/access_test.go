package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/latchhq/latch/pkg/escalator/webhook"
	"github.com/latchhq/latch/pkg/latch"
)

// mariadb starts a MariaDB server of its own on a fresh data directory,
// reachable only through a unix socket, and stops it when the test ends. It
// returns the socket's path. Without the server installed (`make tools`
// installs Debian's mariadb-server) the test is skipped, unless
// LATCH_REQUIRE_TOOLS is set, which fails it.
func mariadb(t *testing.T) string {
	t.Helper()
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if p := filepath.Join(dir, name); fileExists(p) {
				return p
			}
		}
		return ""
	}
	server, install := find("mariadbd"), find("mariadb-install-db")
	if server == "" || install == "" {
		if os.Getenv("LATCH_REQUIRE_TOOLS") != "" {
			t.Fatal("mariadbd is not installed and LATCH_REQUIRE_TOOLS is set; `make tools` installs it")
		}
		t.Skip("mariadbd is not installed; `make tools` installs Debian's mariadb-server")
	}
	// A short path: a unix socket's path is limited to 107 bytes.
	dir, err := os.MkdirTemp("", "mdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	var asUser []string
	if os.Geteuid() == 0 {
		asUser = []string{"--user=root"} // mariadbd refuses to run as root otherwise
	} else if u, err := user.Current(); err == nil {
		asUser = []string{"--user=" + u.Username}
	}
	args := append([]string{"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}, asUser...)
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	var log bytes.Buffer
	cmd := exec.Command(server, append([]string{"--no-defaults", "--datadir=" + data, "--socket=" + sock,
		"--skip-networking", "--skip-name-resolve", "--skip-log-bin", "--pid-file=" + filepath.Join(dir, "pid"),
		"--innodb-buffer-pool-size=16M", "--performance-schema=OFF"}, asUser...)...)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // mariadbd shuts down cleanly on SIGTERM
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		db, err := sql.Open("mysql", "root@unix("+sock+")/")
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return sock
		}
		select {
		case err := <-exited:
			t.Fatalf("mariadbd exited: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mariadbd did not answer within 2 minutes: %v\n%s", err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// fakeSlack answers users.lookupByEmail and chat.postMessage as Slack does,
// and records the DMs.
type fakeSlack struct {
	mu   sync.Mutex
	dms  []url.Values
	fail string // an error to answer chat.postMessage with
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Header.Get("Authorization") != "Bearer xoxb-test" {
		_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch r.URL.Path {
	case "/api/users.lookupByEmail":
		if r.PostForm.Get("email") != "ana@example.com" {
			_, _ = io.WriteString(w, `{"ok":false,"error":"users_not_found"}`)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true,"user":{"id":"U0ANA","team_id":"T1","name":"ana","profile":{"email":"ana@example.com"}}}`)
	case "/api/chat.postMessage":
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.fail != "" {
			fmt.Fprintf(w, `{"ok":false,"error":%q}`, f.fail)
			return
		}
		f.dms = append(f.dms, r.PostForm)
		fmt.Fprintf(w, `{"ok":true,"channel":"D0ANA","ts":"1733130000.%06d","message":{"type":"message","text":"..."}}`, len(f.dms))
	default:
		_, _ = io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

func (f *fakeSlack) lastDM(t *testing.T) url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.dms) == 0 {
		t.Fatal("no DM was sent")
	}
	return f.dms[len(f.dms)-1]
}

var passwordLine = regexp.MustCompile(`(?m)^Password: (\S+)$`)

func payload(action webhook.Action, privileges ...any) webhook.Payload {
	ends := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	return webhook.NewPayload(action, latch.GrantSpec{
		GrantID: "grt_01JDQ3M8Z6N9V4C2B7X5K1H0TE", EndsAt: ends,
		User:    latch.SpecUser{Email: "ana@example.com", Identity: "ana@example.com"},
		Target:  latch.Target{ID: "orders-ro", Settings: map[string]any{"database": "orders", "privileges": privileges}},
		Request: latch.SpecRequest{ID: "req_1", Flow: "mysql"},
	})
}

// connectAs opens a session as the temporary user.
func connectAs(sock, user, password string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, password, "unix", sock, "orders"
	cfg.Timeout = 10 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, db.Ping()
}

// A grant makes a user with a working password sent only by DM; a revoke
// refuses new sessions and kills the live one; the password is never in the
// logs nor in the answer Latch keeps.
func TestGrantAndRevokeAgainstMariaDB(t *testing.T) {
	sock := mariadb(t)
	admin, err := openDB("root@unix(" + sock + ")/")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, q := range []string{"CREATE DATABASE orders", "CREATE TABLE orders.o (id INT PRIMARY KEY)", "INSERT INTO orders.o VALUES (42)"} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	slack := &fakeSlack{}
	srv := httptest.NewServer(slack)
	defer srv.Close()
	var logs bytes.Buffer
	a := &Access{DB: admin, Host: "db.internal:3306", Log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Messenger: SlackDM{Token: "xoxb-test", APIURL: srv.URL + "/api/"}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var answers bytes.Buffer // every answer, as Latch receives (and keeps) them
	handle := func(p webhook.Payload) Answer {
		t.Helper()
		ans, err := a.Handle(ctx, p)
		if err != nil {
			t.Fatalf("%s: %v", p.Action, err)
		}
		_ = json.NewEncoder(&answers).Encode(ans)
		return ans
	}

	ans := handle(payload(webhook.ActionEscalate, "SELECT"))
	user := UserName("grt_01JDQ3M8Z6N9V4C2B7X5K1H0TE")
	if ans.Body == nil || ans.Body.User != user || len(ans.Errors) != 0 {
		t.Fatalf("escalate answered %+v", ans)
	}
	dm := slack.lastDM(t)
	if dm.Get("channel") != "U0ANA" {
		t.Errorf("DM sent to %q, want the person's user id", dm.Get("channel"))
	}
	m := passwordLine.FindStringSubmatch(dm.Get("text"))
	if m == nil || !strings.Contains(dm.Get("text"), "User: "+user) {
		t.Fatalf("DM %q names no user and password", dm.Get("text"))
	}
	first := m[1]

	// The person connects with what the DM said, and may read, not write.
	session, err := connectAs(sock, user, first)
	if err != nil {
		t.Fatalf("connect as %s with the DM's password: %v", user, err)
	}
	defer session.Close()
	var id int
	if err := session.QueryRowContext(ctx, "SELECT id FROM o").Scan(&id); err != nil || id != 42 {
		t.Fatalf("select as the temporary user: %d, %v", id, err)
	}
	if _, err := session.ExecContext(ctx, "INSERT INTO o VALUES (7)"); err == nil {
		t.Errorf("the temporary user may insert with SELECT granted")
	}

	// A repeat (Latch retrying after a timeout) keeps the user and sends a
	// new password; the first no longer works.
	if again := handle(payload(webhook.ActionEscalate, "SELECT")); again.Body == nil || again.Body.User != user {
		t.Fatalf("repeat answered %+v", again)
	}
	second := passwordLine.FindStringSubmatch(slack.lastDM(t).Get("text"))[1]
	if second == first {
		t.Errorf("a repeat sent the same password")
	}
	if db, err := connectAs(sock, user, first); err == nil {
		db.Close()
		t.Errorf("the replaced password still connects")
	}
	if db, err := connectAs(sock, user, second); err != nil {
		t.Errorf("the new password: %v", err)
	} else {
		db.Close()
	}

	// Revoke: the live session is killed and a new one refused.
	ans = handle(payload(webhook.ActionDeescalate, "SELECT"))
	if ans.Body == nil || ans.Body.Killed < 1 {
		t.Errorf("deescalate answered %+v, want the live session killed", ans)
	}
	// Counted as the revoke answers (the refused login below is itself a
	// session of the user's name for a moment, until the server ends it).
	var left int
	if err := admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", user).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d sessions of %s left after the revoke (%v)", left, user, err)
	}
	if err := session.QueryRowContext(ctx, "SELECT id FROM o").Scan(&id); err == nil {
		t.Errorf("the session opened during the grant still runs queries after the revoke")
	}
	_, err = connectAs(sock, user, second)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 {
		t.Errorf("connect after the revoke: %v, want access denied (1045)", err)
	}
	// A repeated revoke is a success.
	if again := handle(payload(webhook.ActionDeescalate, "SELECT")); again.Body == nil || again.Body.Killed != 0 {
		t.Errorf("repeated revoke answered %+v", again)
	}

	for _, pw := range []string{first, second} {
		if strings.Contains(logs.String(), pw) {
			t.Errorf("a password is in the logs:\n%s", logs.String())
		}
		if strings.Contains(answers.String(), pw) {
			t.Errorf("a password is in an answer Latch keeps:\n%s", answers.String())
		}
	}
	if !strings.Contains(logs.String(), user) {
		t.Errorf("the logs do not record the grant (%s):\n%s", user, logs.String())
	}

	t.Run("a privilege the function does not grant is refused", func(t *testing.T) {
		ans, err := a.Handle(ctx, payload(webhook.ActionEscalate, "ALL PRIVILEGES"))
		if err != nil || len(ans.Errors) != 1 || ans.Body != nil {
			t.Fatalf("answered %+v, %v; want one error", ans, err)
		}
		var n int
		_ = admin.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ?", user).Scan(&n)
		if n != 0 {
			t.Errorf("a refused grant created the user")
		}
	})

	t.Run("a DM that fails fails the step, without the password", func(t *testing.T) {
		slack.mu.Lock()
		slack.fail = "channel_not_found"
		slack.mu.Unlock()
		before := logs.Len()
		_, err := a.Handle(ctx, payload(webhook.ActionEscalate, "SELECT"))
		if err == nil || !strings.Contains(err.Error(), "channel_not_found") {
			t.Fatalf("escalate with Slack failing: %v, want the Slack error", err)
		}
		if passwordLine.MatchString(err.Error()) || strings.Contains(logs.String()[before:], "Password") {
			t.Errorf("the error or logs carry the DM's text: %v", err)
		}
		// The user exists with a password nobody has; the retry sets another.
		handle(payload(webhook.ActionDeescalate, "SELECT"))
	})
}
