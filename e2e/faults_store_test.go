package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// Faults of the store file of latch server: damage is refused with a
// message naming the file and how to restore, a record that cannot be read
// is skipped and reported, and a backup taken while the server runs restores.
// See docs/server.md.

// serverRefuses runs latch server over dataDir and expects it to exit by
// itself; it returns what it wrote to stderr and its exit code.
func serverRefuses(t *testing.T, flowDir, dataDir string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, latchBin, "server", "--addr", "127.0.0.1:0", "--data", dataDir, "--flows", flowDir)
	cmd.Env = append(os.Environ(), "LATCH_ADMIN_TOKEN="+adminToken, "LATCH_WEBHOOK_SECRET="+webhookSecret)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("latch server over a damaged store did not exit within 60s:\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("latch server over a damaged store: %v (want it to refuse and exit)\n%s", err, stderr.String())
	}
	return stderr.String(), ee.ExitCode()
}

// storeWithGrant runs a server that records a pending request and an active
// grant, stops it, and returns the flows, the data directory and the store
// file.
func storeWithGrant(t *testing.T) (flows, data, file string) {
	t.Helper()
	tg := newTarget(t)
	flows = writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")})
	data = t.TempDir()
	srv := startServer(t, flows, data)
	c := srv.client()
	if _, err := c.CreateRequest(context.Background(), httpapi.CreateBody{Flow: "prod-access", UserEmail: "carol@example.com",
		Fields: map[string]any{"reason": "pending"}}); err != nil {
		t.Fatal(err)
	}
	activeGrant(t, c, tg, "bob@example.com", 3600)
	srv.stop()
	return flows, data, filepath.Join(data, "latch.db")
}

// usedSize is how much of a bbolt file its newest meta page says is in use:
// its high-water page id times its page size.
func usedSize(t *testing.T, file string) int64 {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	pageSize := int(le.Uint32(data[16+8:]))
	var used int64
	var txid uint64
	for _, off := range []int{0, pageSize} { // the two meta pages: a 16-byte page header, then the meta
		m := data[off+16:]
		if id := le.Uint64(m[48:]); id >= txid { // txid
			txid, used = id, int64(le.Uint64(m[40:]))*int64(pageSize) // high-water page id
		}
	}
	if used <= 0 || used > int64(len(data)) {
		t.Fatalf("the store's header says %d bytes are in use of %d", used, len(data))
	}
	return used
}

// TestDamagedStoreIsRefused: a 0-byte, truncated or garbled latch.db stops
// latch server at start with a message naming the file and how to restore
// it; never a Go fault, a bbolt panic, or a new empty store.
func TestDamagedStoreIsRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, file string)
		want   string
	}{
		{"0 bytes", func(t *testing.T, file string) {
			if err := os.Truncate(file, 0); err != nil {
				t.Fatal(err)
			}
		}, "empty (0 bytes)"},
		{"truncated", func(t *testing.T, file string) {
			// Cut into the pages the store uses (its header's high-water
			// mark), not only into the unused space bbolt may keep at
			// the file's end.
			if err := os.Truncate(file, usedSize(t, file)/2); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
		{"garbled pages", func(t *testing.T, file string) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// Every page but the two meta pages: the headers are sound,
			// what they point to is not.
			rnd := rand.New(rand.NewPCG(7, 7))
			for i := 2 * 4096; i < len(data); i++ {
				data[i] = byte(rnd.Uint32())
			}
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is damaged"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			flows, data, file := storeWithGrant(t)
			tt.damage(t, file)
			before, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			stderr, code := serverRefuses(t, flows, data)
			if code == 0 {
				t.Errorf("exit code 0, want a failure")
			}
			for _, w := range []string{file, tt.want, "Restore the last backup", "latch backup", "docs/server.md"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("the refusal does not say %q:\n%s", w, stderr)
				}
			}
			for _, bad := range []string{"panic", "goroutine ", "fatal error", "SIGSEGV", "SIGBUS", "unexpected fault"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("the refusal holds %q:\n%s", bad, stderr)
				}
			}
			after, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("the damaged file was changed (%d bytes, now %d)", len(before), len(after))
			}
		})
	}
}

// garbleRecords overwrites records of a stopped server's store with bytes
// that are not JSON.
func garbleRecords(t *testing.T, file, bucket string, keys ...string) {
	t.Helper()
	db, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		for _, k := range keys {
			if b.Get([]byte(k)) == nil {
				t.Fatalf("no %s record %q", bucket, k)
			}
			if err := b.Put([]byte(k), []byte("\x00garbled{")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUndecodableRecordsAreSkipped: a pending request and an audit event
// that no longer decode neither stop the server from starting nor fail the
// lists; each is reported (an ERROR line and a store_record_unreadable audit
// event), and a grant that was active is still revoked on time.
func TestUndecodableRecordsAreSkipped(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	flows := writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")})
	data := t.TempDir()
	srv := startServer(t, flows, data)
	c := srv.client()
	ctx := context.Background()
	var pending []latch.Request
	for _, who := range []string{"carol@example.com", "dave@example.com"} {
		r, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: who, Fields: map[string]any{"reason": "pending"}})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, r)
	}
	active := activeGrant(t, c, tg, "bob@example.com", faultGrantSeconds)
	evs, err := c.Events(ctx, pending[1].ID)
	if err != nil || len(evs) == 0 {
		t.Fatalf("events of %s: %v, %v", pending[1].ID, evs, err)
	}
	srv.stop()
	file := filepath.Join(data, "latch.db")
	garbleRecords(t, file, "requests", pending[0].ID)
	garbleRecords(t, file, "audit", evs[0].ID)

	srv = startServer(t, flows, data)
	c = srv.client()
	reqs, err := c.ListRequests(ctx, latch.RequestFilter{})
	if err != nil {
		t.Fatalf("GET /v1/requests with an undecodable request stored: %v", err)
	}
	var ids []string
	for _, r := range reqs {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, " "), active.ID+" "+pending[1].ID; got != want {
		t.Errorf("listed %s, want %s (the undecodable %s skipped)", got, want, pending[0].ID)
	}
	if got, err := c.ListRequests(ctx, latch.RequestFilter{Status: latch.StatusPending}); err != nil || len(got) != 1 {
		t.Errorf("pending requests = %v, %v; want the one that decodes", got, err)
	}
	if got, err := c.Events(ctx, pending[1].ID); err != nil || len(got) != len(evs)-1 {
		t.Errorf("events of %s = %d, %v; want %d (the undecodable one skipped)", pending[1].ID, len(got), err, len(evs)-1)
	}
	for _, w := range []string{"level=ERROR", "bucket=requests key=" + pending[0].ID, "bucket=audit key=" + evs[0].ID, file} {
		if !srv.logged(w) {
			t.Errorf("the log does not hold %q", w)
		}
	}
	page, err := c.Audit(ctx, client.AuditFilter{Types: []string{string(boltstore.AuditRecordUnreadable)}})
	if err != nil {
		t.Fatal(err)
	}
	reported := map[string]bool{}
	for _, e := range page.Events {
		reported[e.Event.Data["bucket"].(string)+"/"+e.Event.Data["key"].(string)] = true
	}
	if !reported["requests/"+pending[0].ID] || !reported["audit/"+evs[0].ID] || len(reported) != 2 {
		t.Errorf("store_record_unreadable events for %v, want requests/%s and audit/%s", reported, pending[0].ID, evs[0].ID)
	}
	revokedOnTime(t, tg, active)
	waitStatus(t, c, active.ID, latch.StatusEnded, 30*time.Second)
}

// TestBackupWhileServing: `latch backup FILE` while the server is busy
// writes a copy that passes the store check, and a server started over the
// copy holds the data and revokes the grant it held.
func TestBackupWhileServing(t *testing.T) {
	tg := newTarget(t)
	flows := writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")})
	srv := startServer(t, flows, t.TempDir())
	c := srv.client()
	ctx := context.Background()
	active := activeGrant(t, c, tg, "bob@example.com", 3600)
	before, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "carol@example.com",
		Fields: map[string]any{"reason": "before the backup"}})
	if err != nil {
		t.Fatal(err)
	}

	// Requests keep coming while the copy is made.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "dave@example.com",
				Fields: map[string]any{"reason": "during the backup"}}); err != nil {
				t.Errorf("a request during the backup: %v", err)
				return
			}
		}
	})
	file := filepath.Join(t.TempDir(), "latch-backup.db")
	out, stderr, code := cli(t, srv, "backup", file)
	close(stop)
	wg.Wait()
	if code != 0 || !strings.Contains(out, "backup written to "+file) {
		t.Fatalf("latch backup: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if _, err := os.Stat(file + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial copy is left behind: %v", err)
	}
	reqs, grants, err := boltstore.Verify(file)
	if err != nil {
		t.Fatalf("the backup does not pass the check: %v", err)
	}
	if reqs < 2 || grants != 1 {
		t.Errorf("the backup holds %d requests and %d grants, want at least 2 and 1", reqs, grants)
	}

	// The API route itself, as the CLI calls it; admins only.
	var buf bytes.Buffer
	if n, err := c.Backup(ctx, &buf); err != nil || n != int64(buf.Len()) || n == 0 {
		t.Errorf("GET /v1/backup = %d bytes, %v", n, err)
	}
	if _, err := client.New(srv.URL, "").Backup(ctx, &buf); latch.ErrorCodeOf(err) != "missing_token" {
		t.Errorf("GET /v1/backup without a token: %v, want missing_token", err)
	}
	if _, stderr, code := cli(t, srv, "backup", t.TempDir()); code != 2 || !strings.Contains(stderr, "is a directory") {
		t.Errorf("latch backup DIR: exit %d, %q; want 2, is a directory", code, stderr)
	}

	// Restore: a server over the copy.
	srv.stop()
	data := t.TempDir()
	copyFile(t, file, filepath.Join(data, "latch.db"))
	srv = startServer(t, flows, data)
	c = srv.client()
	if r, err := c.GetRequest(ctx, before.ID); err != nil || r.Status != latch.StatusPending {
		t.Errorf("restored %s = %v, %v; want pending", before.ID, r.Status, err)
	}
	if r, err := c.GetRequest(ctx, active.ID); err != nil || r.Status != latch.StatusActive {
		t.Fatalf("restored %s = %v, %v; want active", active.ID, r.Status, err)
	}
	if _, err := c.Act(ctx, active.ID, "revoke", httpapi.ActionBody{As: "alice@example.com", Reason: "after restore"}); err != nil {
		t.Fatal(err)
	}
	if got := tg.next(30 * time.Second).Action; got != "deescalate" {
		t.Fatalf("action = %q, want deescalate", got)
	}
	waitStatus(t, c, active.ID, latch.StatusEnded, 30*time.Second)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestUnreadableLeasedRequestIsStillRevoked: the request record of an
// active grant is garbled while the server is down; after the restart the
// grant is still revoked at its end (the request is skipped, not waited on).
func TestUnreadableLeasedRequestIsStillRevoked(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	flows := writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")})
	data := t.TempDir()
	srv := startServer(t, flows, data)
	active := activeGrant(t, srv.client(), tg, "erin@example.com", faultGrantSeconds)
	srv.stop()
	garbleRecords(t, filepath.Join(data, "latch.db"), "requests", active.ID)

	srv = startServer(t, flows, data)
	if time.Now().After(*active.EndsAt) {
		t.Fatalf("the restart took past the grant's end; the test cannot tell the revoke came on time")
	}
	de := tg.next(time.Until(*active.EndsAt) + 30*time.Second)
	grant, _ := de.Body["grant"].(map[string]any)
	if de.Action != "deescalate" || grant["id"] != active.GrantID {
		t.Fatalf("call %s of grant %v, want the deescalate of %s", de.Action, grant["id"], active.GrantID)
	}
	if late := de.At.Sub(*active.EndsAt); late < 0 || late > 5*time.Second {
		t.Errorf("deescalate came %s after the end, want within 0..5s", late)
	}
	if !srv.logged("cannot be read") {
		t.Errorf("the server did not say the grant's request cannot be read:\n%s", srv.logs.String())
	}
}
