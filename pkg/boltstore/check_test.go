package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
)

// filled returns the path of a closed store holding n pending requests
// (r000, r001, ...) and an active grant, large enough to span many pages.
func filled(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "latch.db")
	s, err := boltstore.Open(path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	for i := range n {
		r := pendingRequest(fmt.Sprintf("r%03d", i))
		if err := s.Commit(tb.Context(), latch.Change{Dedup: "create/" + r.ID, Requests: []latch.Request{r}}); err != nil {
			tb.Fatalf("Commit: %v", err)
		}
	}
	g := latch.Grant{ID: "g1", Key: "f/t/ann@example.com", Flow: "f", TargetID: "t", User: latch.UserRef{Email: "ann@example.com"},
		Status: latch.GrantActive}
	if err := s.Commit(tb.Context(), latch.Change{Dedup: "grant/g1", Grants: []latch.Grant{g}}); err != nil {
		tb.Fatalf("Commit grant: %v", err)
	}
	if err := s.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	return path
}

func pendingRequest(id string) latch.Request {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return latch.Request{ID: id, Flow: "f", Requester: latch.UserRef{Email: "ann@example.com"}, Status: latch.StatusPending,
		CreatedAt: at, Fields: latch.Fields{"reason": strings.Repeat("padding ", 40)}}
}

// wantDamaged checks that err is a refusal naming path and saying how to
// restore, and that what it says contains want.
func wantDamaged(tb testing.TB, err error, path, want string) {
	tb.Helper()
	var de *boltstore.DamagedError
	if !errors.As(err, &de) {
		tb.Fatalf("Open: got %v, want a *DamagedError", err)
	}
	msg := err.Error()
	for _, w := range []string{path, want, "latch backup", "docs/server.md"} {
		if !strings.Contains(msg, w) {
			tb.Errorf("Open's error %q does not say %q", msg, w)
		}
	}
}

func TestOpenRefusesAnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path)
	if err == nil {
		s.Close()
	}
	wantDamaged(t, err, path, "empty (0 bytes)")
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was changed: %v, %d bytes", err, fi.Size())
	}
}

func TestOpenRefusesATruncatedFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		keep func(size int64) int64
	}{
		{"below the smallest store", func(int64) int64 { return 1000 }},
		{"half", func(size int64) int64 { return size / 2 }},
		{"the last page in use", func(used int64) int64 { return used - 4096 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filled(t, 200)
			if err := os.Truncate(path, tt.keep(usedSize(t, path))); err != nil {
				t.Fatal(err)
			}
			s, err := boltstore.Open(path)
			if err == nil {
				s.Close()
			}
			wantDamaged(t, err, path, "truncated")
		})
	}
}

// usedSize is the size of the pages of the store at path in use: its
// high-water mark (the file may be longer).
func usedSize(tb testing.TB, path string) int64 {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var n int64
	_ = db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// TestOpenOfAGarbledPageNeverPanics garbles each page of a store in turn:
// Open either refuses the file or opens a store that reads (a page that was
// free, or a record made undecodable, which is reported and skipped); it
// never panics or faults, and garbling a page in use is refused. With
// WithBackgroundCheck, the refusal may come from the check after Open.
func TestOpenOfAGarbledPageNeverPanics(t *testing.T) {
	orig := filled(t, 200)
	data, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	for _, mode := range []struct {
		name string
		opts []boltstore.Option
	}{{"in Open", nil}, {"in the background", []boltstore.Option{boltstore.WithBackgroundCheck()}}} {
		t.Run(mode.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(1, 2))
			refused := 0
			for p := 0; p < len(data)/page; p++ {
				bad := bytes.Clone(data)
				for i := p * page; i < (p+1)*page; i++ {
					bad[i] = byte(rnd.Uint32())
				}
				path := filepath.Join(t.TempDir(), "latch.db")
				if err := os.WriteFile(path, bad, 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := boltstore.Open(path, mode.opts...)
				if err == nil {
					// A read while the check runs may reach the page first:
					// it fails or reads, and never panics.
					_, _ = s.ListRequests(t.Context(), latch.RequestFilter{Limit: 1000})
					if err = s.WaitChecked(t.Context()); err != nil {
						s.Close()
					}
				}
				var de *boltstore.DamagedError
				switch {
				case errors.As(err, &de):
					refused++
					if !strings.Contains(err.Error(), path) {
						t.Errorf("page %d: the refusal does not name the file: %v", p, err)
					}
				case err != nil:
					t.Errorf("page %d: Open: %v, want a *DamagedError or a store", p, err)
				default:
					if _, err := s.ListRequests(t.Context(), latch.RequestFilter{Limit: 1000}); err != nil {
						t.Errorf("page %d: the store opened, but ListRequests: %v", p, err)
					}
					s.Close()
				}
			}
			if refused == 0 {
				t.Errorf("no garbled page of %d was refused", len(data)/page)
			}
		})
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	path := filled(t, 1)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("99"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a store of schema 99 succeeded")
	}
	var de *boltstore.DamagedError
	if !errors.As(err, &de) || !de.Newer {
		t.Fatalf("Open: %v, want a *DamagedError for a newer store", err)
	}
	for _, w := range []string{path, "newer version of latch", "schema 99"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if _, _, err := boltstore.Verify(path); !errors.As(err, &de) || !de.Newer {
		t.Errorf("Verify: %v, want a *DamagedError for a newer store", err)
	}
}

func TestOpenRecordsTheSchemaOfAnOlderStore(t *testing.T) {
	path := filled(t, 1)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A store written before versions were recorded has no meta bucket.
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("meta")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open of a store with no schema version: %v", err)
	}
	s.Close()
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema_version")); string(v) != fmt.Sprint(boltstore.SchemaVersion) {
			t.Errorf("schema_version = %q, want %d", v, boltstore.SchemaVersion)
		}
		return nil
	})
}

// A store of schema 1 (before the combined request indexes and the due
// index) is upgraded by Open: schema 2 is recorded, so that an older build,
// which would not keep the indexes, refuses it.
func TestOpenUpgradesASchema1Store(t *testing.T) {
	path := filled(t, 1)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatalf("Open of a schema 1 store: %v", err)
	}
	s.Close()
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("meta")).Get([]byte("schema_version")); string(v) != "2" || boltstore.SchemaVersion != 2 {
			t.Errorf("schema_version = %q after the upgrade (SchemaVersion %d), want 2", v, boltstore.SchemaVersion)
		}
		return nil
	})
}

// garble overwrites the stored documents named with bytes that are not JSON.
func garble(tb testing.TB, path string, bucket string, ids ...string) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			if tx.Bucket([]byte(bucket)).Get([]byte(id)) == nil {
				return fmt.Errorf("no %s %q to garble", bucket, id)
			}
			if err := tx.Bucket([]byte(bucket)).Put([]byte(id), []byte("{\"id\":\x00\xff garbled")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// logBuffer is a slog handler's output, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestUndecodableRecordsAreSkippedAndReported(t *testing.T) {
	path := filled(t, 3)
	garble(t, path, "requests", "r001")
	garble(t, path, "grants", "g1")
	var logs logBuffer
	s, err := boltstore.Open(path, boltstore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("Open of a store with undecodable records: %v", err)
	}
	defer s.Close()
	ctx := t.Context()

	// What re-arming lists: pending requests and open grants.
	reqs, err := s.ListRequests(ctx, latch.RequestFilter{Status: latch.StatusPending, Limit: 100000})
	if err != nil {
		t.Fatalf("ListRequests: %v", err)
	}
	var ids []string
	for _, r := range reqs {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, ","), "r002,r000"; got != want {
		t.Errorf("ListRequests = %s, want %s", got, want)
	}
	if all, err := s.ListRequests(ctx, latch.RequestFilter{}); err != nil || len(all) != 2 {
		t.Errorf("ListRequests with no filter = %d requests, %v; want 2", len(all), err)
	}
	grants, err := s.ListGrants(ctx, latch.GrantEscalating, latch.GrantActive, latch.GrantDeescalating)
	if err != nil || len(grants) != 0 {
		t.Errorf("ListGrants = %v, %v; want none and no error", grants, err)
	}
	if _, err := s.GetRequest(ctx, "r001"); err == nil {
		t.Error("GetRequest of the undecodable request succeeded")
	}

	// Reported: an ERROR line and an audit event per record, once each.
	evs, err := s.AdminAudit(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("AdminAudit: %v", err)
	}
	got := map[string]int{}
	for _, e := range evs {
		if e.Type != boltstore.AuditRecordUnreadable {
			t.Errorf("unexpected admin event %+v", e)
			continue
		}
		if e.Data["file"] != path || e.Data["error"] == "" {
			t.Errorf("event %s: data %v, want the file and the error", e.ID, e.Data)
		}
		got[fmt.Sprint(e.Data["bucket"], "/", e.Data["key"])]++
	}
	if got["requests/r001"] != 1 || got["grants/g1"] != 1 || len(got) != 2 {
		t.Errorf("unreadable events = %v, want one for requests/r001 and grants/g1", got)
	}
	out := logs.String()
	for _, w := range []string{"level=ERROR", "bucket=requests key=r001", "bucket=grants key=g1", path} {
		if !strings.Contains(out, w) {
			t.Errorf("log does not hold %q:\n%s", w, out)
		}
	}
	if n := strings.Count(out, "key=r001"); n != 1 {
		t.Errorf("r001 reported %d times in the log, want once:\n%s", n, out)
	}

	// A later open reports nothing new: the events are there already.
	s.Close()
	s, err = boltstore.Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if evs2, err := s.AdminAudit(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)); err != nil || len(evs2) != len(evs) {
		t.Errorf("after reopen %d admin events, %v; want %d", len(evs2), err, len(evs))
	}
}

func TestListsSkipEveryKindOfUndecodableRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, e := range []string{"ann@example.com", "bob@example.com"} {
		if err := s.PutUser(ctx, latch.User{Email: e, Role: latch.RoleMember}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutIdentity(ctx, latch.Identity{Email: e, Service: "okta", ID: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"a.com", "b.com"} {
		if err := s.PutDomain(ctx, latch.Domain{Name: d}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	garble(t, path, "users", "ann@example.com")
	garble(t, path, "identities", "bob@example.com\x00okta")
	garble(t, path, "domains", "a.com")
	s, err = boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if us, err := s.ListUsers(ctx); err != nil || len(us) != 1 || us[0].Email != "bob@example.com" {
		t.Errorf("ListUsers = %v, %v; want bob only", us, err)
	}
	if ids, err := s.ListIdentities(ctx, ""); err != nil || len(ids) != 1 || ids[0].Email != "ann@example.com" {
		t.Errorf("ListIdentities = %v, %v; want ann's only", ids, err)
	}
	if ds, err := s.ListDomains(ctx); err != nil || len(ds) != 1 || ds[0].Name != "b.com" {
		t.Errorf("ListDomains = %v, %v; want b.com only", ds, err)
	}
	evs, err := s.AdminAudit(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range evs {
		if e.Type == boltstore.AuditRecordUnreadable {
			keys = append(keys, fmt.Sprint(e.Data["key"]))
		}
	}
	if len(keys) != 3 || !strings.Contains(strings.Join(keys, " "), "hex:") {
		t.Errorf("unreadable records reported: %v; want 3, the identity's key in hex", keys)
	}
}

func TestBackupIsAConsistentStore(t *testing.T) {
	path := filled(t, 50)
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	// Writers go on while the copy is made.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := pendingRequest(fmt.Sprintf("w%04d", i))
			if err := s.Commit(context.Background(), latch.Change{Dedup: "create/" + r.ID, Requests: []latch.Request{r}}); err != nil {
				t.Errorf("Commit during backup: %v", err)
				return
			}
		}
	})
	backup := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Backup(ctx, f)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(backup); fi.Size() != n {
		t.Errorf("Backup reported %d bytes, the file has %d", n, fi.Size())
	}
	reqs, grants, err := boltstore.Verify(backup)
	if err != nil {
		t.Fatalf("Verify of the backup: %v", err)
	}
	if reqs < 50 || grants != 1 {
		t.Errorf("backup holds %d requests, %d grants; want at least 50 and 1", reqs, grants)
	}
	b, err := boltstore.Open(backup)
	if err != nil {
		t.Fatalf("Open of the backup: %v", err)
	}
	defer b.Close()
	if r, err := b.GetRequest(ctx, "r049"); err != nil || r.Status != latch.StatusPending {
		t.Errorf("backup's r049 = %+v, %v", r, err)
	}
	if g, err := b.GetGrant(ctx, "g1"); err != nil || g.Status != latch.GrantActive {
		t.Errorf("backup's g1 = %+v, %v", g, err)
	}
}

func TestVerifyRefusesWhatOpenRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latch.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var de *boltstore.DamagedError
	if _, _, err := boltstore.Verify(path); !errors.As(err, &de) {
		t.Errorf("Verify of an empty file: %v, want a *DamagedError", err)
	}
	if _, _, err := boltstore.Verify(filepath.Join(t.TempDir(), "missing.db")); err == nil || errors.As(err, &de) {
		t.Errorf("Verify of a missing file: %v, want a plain error", err)
	}
}
