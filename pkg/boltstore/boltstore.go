// Package boltstore is the latch.Store of `latch server`: Latch's whole state
// in one bbolt file on one machine.
//
// Every entity is a JSON document in its own bucket, keyed by ID (users by
// normalized email, identities by normalized email and service, domains by
// name, refs of chat messages by request ID, kind and channel). Lists are
// served from index buckets whose keys sort the way the list is ordered, so
// no list loads more than it returns (index.go has one for every
// combination of request filters). Commit is group commit: one
// writer goroutine writes every change waiting when it starts in one bbolt
// read-write transaction and one fsync, each change checked in full before
// any of its keys is written, so all of a change is written or none of it
// and a change that fails its checks fails alone. The removal of done
// outbox effects rides on the same transactions (see EffectDone).
//
// bbolt allows one process per file: a second Open of the same file waits a
// second for the lock and then fails.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// DedupRetention is how long a change's dedup marker is kept. Markers older
// than this are removed when the store is opened; a command delivered again
// after that long acts again.
const DedupRetention = 30 * 24 * time.Hour

// defaultLimit is the number of requests and effects a list returns when no
// limit is given.
const defaultLimit = 100

// Buckets. Index buckets hold keys only; the value is empty.
var (
	bucketRequests         = []byte("requests")           // id → Request JSON
	bucketRequestsByTime   = []byte("requests_by_time")   // created \0 id
	bucketRequestsByStatus = []byte("requests_by_status") // status \0 created \0 id
	bucketRequestsByFlow   = []byte("requests_by_flow")   // flow \0 created \0 id
	bucketRequestsByUser   = []byte("requests_by_user")   // email \0 created \0 id
	bucketGrants           = []byte("grants")             // id → Grant JSON
	bucketGrantsByStatus   = []byte("grants_by_status")   // status \0 id
	bucketOpenGrants       = []byte("open_grants")        // key → id of its open grant
	bucketAudit            = []byte("audit")              // id → AuditEvent JSON
	bucketAuditByRequest   = []byte("audit_by_request")   // request id \0 seq (8 bytes) id
	bucketAdminAudit       = []byte("admin_audit")        // at \0 id of an event of no request
	bucketAuditFeed        = []byte("audit_feed")         // position (8 bytes, commit order) → event id
	bucketFeedCursors      = []byte("feed_cursors")       // reader name → position (8 bytes)
	bucketOutbox           = []byte("outbox")             // id → Effect JSON
	bucketOutboxByTime     = []byte("outbox_by_time")     // created \0 id
	bucketDedup            = []byte("dedup")              // dedup key → when written (unix ns, 8 bytes)
	bucketUsers            = []byte("users")              // email → User JSON
	bucketIdentities       = []byte("identities")         // email \0 service → Identity JSON
	bucketDomains          = []byte("domains")            // name → Domain JSON
	bucketTokens           = []byte("tokens")             // id → Token JSON
	bucketTokensByHash     = []byte("tokens_by_hash")     // hash → id
	bucketTokensByTime     = []byte("tokens_by_time")     // created \0 id
	bucketMessageRefs      = []byte("message_refs")       // request id \0 kind \0 channel → MessageRef JSON

	allBuckets = [][]byte{bucketRequests, bucketRequestsByTime, bucketRequestsByStatus, bucketRequestsByFlow,
		bucketRequestsByUser, bucketGrants, bucketGrantsByStatus, bucketOpenGrants, bucketAudit,
		bucketAuditByRequest, bucketAdminAudit, bucketAuditFeed, bucketFeedCursors, bucketOutbox, bucketOutboxByTime, bucketDedup, bucketUsers, bucketIdentities,
		bucketDomains, bucketTokens, bucketTokensByHash, bucketTokensByTime, bucketMessageRefs}
)

// Store is a latch.Store in a bbolt file. It is safe for concurrent use.
type Store struct {
	db       *bolt.DB
	w        *writer
	path     string
	log      *slog.Logger
	reported sync.Map // IDs of the unreadable records reported
	// scanLater, scanStop and scanDone: the scan for undecodable
	// documents runs after Open (WithBackgroundScan).
	scanLater bool
	scanStop  context.CancelFunc
	scanDone  chan struct{}
	// checkLater, checkStop, checkDone and checkErr: the whole-file check
	// runs after Open (WithBackgroundCheck); checkErr is its outcome, set
	// before checkDone is closed (nil checkDone: checked in Open).
	checkLater bool
	checkStop  context.CancelFunc
	checkDone  chan struct{}
	checkErr   error
}

var _ latch.Store = (*Store)(nil)

// Option configures Open.
type Option func(*Store)

// WithLogger sets where the store reports records it cannot read (default:
// nowhere but the audit trail).
func WithLogger(log *slog.Logger) Option { return func(s *Store) { s.log = log } }

// WithBackgroundScan has Open return before the scan for documents that
// cannot be decoded, which then runs on a goroutine of its own and reports
// them the same way: a server answers without decoding every document
// first. The file's consistency check still runs in Open. Close stops the
// scan.
func WithBackgroundScan() Option { return func(s *Store) { s.scanLater = true } }

// WithBackgroundCheck has Open check only what it must before it returns
// (the file's size, its meta pages, what bbolt reads as it opens, the
// schema version), and run the whole-file check (check: every page's
// header read with pread, then bbolt's consistency check), the removal of
// old dedup markers and the scan for documents that cannot be decoded (as
// WithBackgroundScan) on a goroutine of its own: a server answers without
// reading the whole file first. Reads are served meanwhile; every write
// waits for the check, and fails with its *DamagedError if it found the
// file damaged, so that nothing is written over a damaged file (WaitChecked
// tells when). A store whose schema or indexes must be upgraded is checked
// in Open, before the upgrade writes. Close stops the check: at once while
// it reads the pages, at its end once bbolt's own check has started.
func WithBackgroundCheck() Option {
	return func(s *Store) { s.checkLater, s.scanLater = true, true }
}

// Open opens the store in the file at path, creating it if it does not
// exist, checks it, and removes dedup markers older than DedupRetention. It
// fails if another process has the file open. A file that is not a sound
// store (empty, truncated, failing bbolt's consistency check, a page bbolt
// cannot read) or that a newer version of latch wrote is refused with a
// *DamagedError naming the file and how to restore it; an existing empty
// file is never made into a new store. Documents that cannot be decoded are
// reported (see AuditRecordUnreadable), not refused. With
// WithBackgroundCheck, the checks that read the whole file, the removal of
// old markers and the scan run after Open returns.
func Open(path string, opts ...Option) (*Store, error) {
	s := &Store{path: path, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	db, err := openChecked(path, false, s.checkLater)
	if err != nil {
		return nil, err
	}
	s.db = db
	upgrade := true
	if s.checkLater {
		if upgrade, err = needsUpgrade(db, path); err == nil && upgrade {
			err = check(context.Background(), db, path) // before the upgrade writes
		}
		if err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if upgrade {
		if err := s.upgrade(); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if s.checkLater && !upgrade {
		ctx, stop := context.WithCancel(context.Background())
		s.checkStop, s.checkDone = stop, make(chan struct{})
		s.w = newWriter(db, s.waitCheck)
		go s.checkInBackground(ctx)
		return s, nil
	}
	s.w = newWriter(db, s.waitCheck)
	if s.scanLater {
		s.startScan()
	} else if err := s.scanDocuments(context.Background()); err != nil {
		_ = s.w.close()
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// upgrade records the schema version, creates the buckets and builds the
// indexes a store lacks, and removes old dedup markers, in one transaction.
func (s *Store) upgrade() error {
	indexed := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := checkSchema(tx, s.path); err != nil {
			return err
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		var err error
		if indexed, err = buildCombinedIndexes(tx); err != nil {
			return err
		}
		if err := ensureDueIndex(tx); err != nil {
			return err
		}
		return pruneDedup(tx.Bucket(bucketDedup), time.Now().Add(-DedupRetention))
	})
	if err != nil {
		var de *DamagedError
		if errors.As(err, &de) {
			return err
		}
		return fmt.Errorf("open %s: %w", s.path, err)
	}
	if indexed > 0 {
		s.log.Info("boltstore: indexed the stored requests by status, flow and requester together", "file", s.path, "requests", indexed)
	}
	return nil
}

// needsUpgrade reads whether the store must be written before it is used:
// it records no schema version or an older one, or lacks a bucket or an
// index. It refuses a store of a newer schema. A panic of bbolt or a memory
// fault reading it is a *DamagedError.
func needsUpgrade(db *bolt.DB, path string) (upgrade bool, err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer guard(path, &err)
	err = db.View(func(tx *bolt.Tx) error {
		if err := readSchema(tx, path); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		upgrade = meta == nil || string(meta.Get(keySchemaVersion)) != fmt.Sprint(SchemaVersion) || tx.Bucket(bucketDue) == nil
		for _, names := range [][][]byte{allBuckets, combinedRequestIndexes} {
			for _, name := range names {
				upgrade = upgrade || tx.Bucket(name) == nil
			}
		}
		return nil
	})
	return upgrade, err
}

// checkInBackground runs the whole-file check, then removes old dedup
// markers, and records the outcome for the writes waiting (waitCheck); then
// it starts the scan for undecodable documents. A damaged file is logged.
func (s *Store) checkInBackground(ctx context.Context) {
	beforeBackgroundCheck(ctx)
	began := time.Now()
	err := check(ctx, s.db, s.path)
	if err == nil {
		err = s.db.Update(func(tx *bolt.Tx) error {
			return pruneDedup(tx.Bucket(bucketDedup), time.Now().Add(-DedupRetention))
		})
		if err != nil {
			err = fmt.Errorf("store %s: remove old dedup markers: %w", s.path, err)
		}
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("store %s: %w", s.path, errClosed)
	}
	var de *DamagedError
	if errors.As(err, &de) {
		s.log.Error("store: the check of the file found it damaged; nothing is written to it", "file", s.path, "err", err)
	}
	if err == nil {
		s.log.Info("store: the check of the whole file found nothing wrong; writes proceed", "file", s.path,
			"took", time.Since(began).Round(time.Millisecond))
		s.startScan() // before checkDone is closed: Close reads scanDone after it
	}
	s.checkErr = err
	close(s.checkDone)
}

// beforeBackgroundCheck runs as the background check starts (tests hold
// the check there).
var beforeBackgroundCheck = func(context.Context) {}

// waitCheck waits for the background check (WithBackgroundCheck) and
// returns its error: nil when the file is sound or was checked in Open.
func (s *Store) waitCheck(ctx context.Context) error {
	if s.checkDone == nil {
		return nil
	}
	select {
	case <-s.checkDone:
		return s.checkErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitChecked waits until the store's whole-file check has ended (at once
// unless Open was given WithBackgroundCheck) and returns what it found: a
// *DamagedError for a damaged file, which every write then returns too.
func (s *Store) WaitChecked(ctx context.Context) error { return s.waitCheck(ctx) }

// update runs fn in a read-write transaction once the whole-file check has
// passed.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := s.waitCheck(ctx); err != nil {
		return err
	}
	return s.db.Update(fn)
}

// startScan starts the scan for undecodable documents on a goroutine of
// its own (WithBackgroundScan).
func (s *Store) startScan() {
	ctx, stop := context.WithCancel(context.Background())
	s.scanStop, s.scanDone = stop, make(chan struct{})
	go func() {
		defer close(s.scanDone)
		if err := s.scanDocuments(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("store: the scan for unreadable records failed", "file", s.path, "err", err)
		}
	}()
}

// Close writes the commits under way and the removals of done effects the
// store still holds (see EffectDone), and closes the file.
func (s *Store) Close() error {
	if s.checkDone != nil {
		s.checkStop()
		<-s.checkDone
	}
	if s.scanDone != nil {
		s.scanStop()
		<-s.scanDone
	}
	return errors.Join(s.w.close(), s.db.Close())
}

func pruneDedup(b *bolt.Bucket, before time.Time) error {
	var old [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < before.UnixNano() {
			old = append(old, slices.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// GetRequest returns the request with the given id, or latch.ErrNotFound.
func (s *Store) GetRequest(ctx context.Context, id string) (latch.Request, error) {
	var r latch.Request
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return get(tx.Bucket(bucketRequests), id, &r)
	})
	if err != nil {
		return latch.Request{}, fmt.Errorf("get request %s: %w", id, err)
	}
	return r, nil
}

// GetGrant returns the grant with the given id, or latch.ErrNotFound.
func (s *Store) GetGrant(ctx context.Context, id string) (latch.Grant, error) {
	var g latch.Grant
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return get(tx.Bucket(bucketGrants), id, &g)
	})
	if err != nil {
		return latch.Grant{}, fmt.Errorf("get grant %s: %w", id, err)
	}
	return g, nil
}

// OpenGrant returns the open (escalating, active or deescalating) grant for
// key, or latch.ErrNotFound.
func (s *Store) OpenGrant(ctx context.Context, key string) (latch.Grant, error) {
	var g latch.Grant
	err := s.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketOpenGrants).Get([]byte(key))
		if id == nil {
			return latch.ErrNotFound
		}
		return get(tx.Bucket(bucketGrants), string(id), &g)
	})
	if err != nil {
		return latch.Grant{}, fmt.Errorf("open grant for %s: %w", key, err)
	}
	return g, nil
}

// ListGrants returns the grants in any of the given statuses, ordered by ID;
// with no status, every grant.
func (s *Store) ListGrants(ctx context.Context, statuses ...latch.GrantStatus) ([]latch.Grant, error) {
	if len(statuses) == 0 {
		statuses = latch.GrantStatuses
	}
	var out []latch.Grant
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		c := tx.Bucket(bucketGrantsByStatus).Cursor()
		for _, st := range uniq(statuses) {
			p := []byte(string(st) + "\x00")
			for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
				var g latch.Grant
				if !getOr(tx, bucketGrants, idOf(k), &g, bad) {
					continue
				}
				out = append(out, g)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	slices.SortFunc(out, func(a, b latch.Grant) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// AuditEvents returns a request's audit events ordered by Seq (then ID); none
// for a request without events.
func (s *Store) AuditEvents(ctx context.Context, requestID string) ([]latch.AuditEvent, error) {
	var out []latch.AuditEvent
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		c := tx.Bucket(bucketAuditByRequest).Cursor()
		p := []byte(requestID + "\x00")
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			var e latch.AuditEvent
			if !getOr(tx, bucketAudit, string(k[len(p)+8:]), &e, bad) {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit events of %s: %w", requestID, err)
	}
	return out, nil
}

var _ latch.AuditFeed = (*Store)(nil)

// AuditAfter returns up to limit (100 when limit is 0) audit events
// committed after position after, in commit order.
func (s *Store) AuditAfter(ctx context.Context, after uint64, limit int) ([]latch.FeedEvent, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	var out []latch.FeedEvent
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		c := tx.Bucket(bucketAuditFeed).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var e latch.AuditEvent
			if !getOr(tx, bucketAudit, string(v), &e, bad) {
				continue
			}
			out = append(out, latch.FeedEvent{Pos: binary.BigEndian.Uint64(k), Event: e})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit feed after %d: %w", after, err)
	}
	return out, nil
}

// FeedCursor returns the saved feed position of reader name, 0 if none.
func (s *Store) FeedCursor(ctx context.Context, name string) (uint64, error) {
	var pos uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketFeedCursors).Get([]byte(name)); len(v) == 8 {
			pos = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return pos, err
}

// SetFeedCursor saves the feed position of reader name.
func (s *Store) SetFeedCursor(ctx context.Context, name string, pos uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error { return tx.Bucket(bucketFeedCursors).Put([]byte(name), u64(pos)) })
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// PendingEffects returns up to limit (100 when limit is 0) outbox effects,
// oldest first (by CreatedAt, then ID).
func (s *Store) PendingEffects(ctx context.Context, limit int) ([]latch.Effect, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	// Read before the transaction starts: an effect whose removal
	// commits in between is then either left out or already gone.
	done := s.w.heldDone()
	var out []latch.Effect
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		c := tx.Bucket(bucketOutboxByTime).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if done[idOf(k)] {
				continue
			}
			var e latch.Effect
			if !getOr(tx, bucketOutbox, idOf(k), &e, bad) {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending effects: %w", err)
	}
	return out, nil
}

// EffectDone removes the effect from the outbox. Removing one that is not
// there returns nil.
//
// The removal of an effect that a Commit of this process wrote along with
// others is held in memory (PendingEffects leaves the effect out at once)
// until the last of those is done, and then all of them are removed in one
// write; any Commit in between writes the held removals in its own
// transaction, and so does Close. So a change whose effects are all done
// costs two durable writes, its commit and one removal. A crash before the
// removal is written leaves the effects in the outbox, to be done again, as
// a crash between doing an effect and EffectDone always could.
func (s *Store) EffectDone(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.w.effectDone(id); err != nil {
		return fmt.Errorf("effect %s done: %w", id, err)
	}
	return nil
}

func deleteEffect(tx *bolt.Tx, id string) error {
	docs := tx.Bucket(bucketOutbox)
	var old latch.Effect
	switch err := get(docs, id, &old); {
	case errors.Is(err, latch.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	if err := tx.Bucket(bucketOutboxByTime).Delete(timeKey(old.CreatedAt, old.ID)); err != nil {
		return err
	}
	return docs.Delete([]byte(id))
}

// GetUser returns the user with the given email (compared normalized), or
// latch.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, email string) (latch.User, error) {
	var u latch.User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return get(tx.Bucket(bucketUsers), latch.NormalizeEmail(email), &u)
	})
	if err != nil {
		return latch.User{}, fmt.Errorf("get user %s: %w", email, err)
	}
	return u, nil
}

// PutUser creates u (u.Version 0) or updates it (u.Version is the version
// read), storing its email normalized and its version bumped by one. It
// returns latch.ErrConflict if the stored version differs (or, for version
// 0, the user exists) and a latch.KindInvalid error if the email is empty.
func (s *Store) PutUser(ctx context.Context, u latch.User) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	u.Email = latch.NormalizeEmail(u.Email)
	if u.Email == "" {
		return latch.Errorf(latch.KindInvalid, "missing_email", "A user needs an email address.")
	}
	u = u.UTC()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsers)
		var old latch.User
		if err := checkVersion(get(b, u.Email, &old), old.Version, u.Version); err != nil {
			return err
		}
		u.Version++
		return put(b, u.Email, u)
	})
	if err != nil {
		return fmt.Errorf("put user %s: %w", u.Email, err)
	}
	return nil
}

// ListUsers returns every user, ordered by email.
func (s *Store) ListUsers(ctx context.Context) ([]latch.User, error) {
	var out []latch.User
	err := s.viewSkipping(ctx, func(tx *bolt.Tx, bad *unreadable) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u latch.User
			if err := json.Unmarshal(v, &u); err != nil {
				bad.add(bucketUsers, k, err)
				return nil
			}
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// view runs fn in a read transaction unless ctx has ended. Until the
// background check (WithBackgroundCheck) has found the file sound,
// a panic of bbolt or a memory fault while reading is a *DamagedError: the
// read may reach a damaged page before the check does.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.unchecked() {
		old := debug.SetPanicOnFault(true)
		defer debug.SetPanicOnFault(old)
		defer guard(s.path, &err)
	}
	return s.db.View(fn)
}

// unchecked reports whether the background check has yet to find the file
// sound: it is under way, or it failed.
func (s *Store) unchecked() bool {
	if s.checkDone == nil {
		return false
	}
	select {
	case <-s.checkDone:
		return s.checkErr != nil
	default:
		return true
	}
}

// viewSkipping runs fn in a read transaction, as view does, and then
// reports the records fn skipped because they cannot be read.
func (s *Store) viewSkipping(ctx context.Context, fn func(tx *bolt.Tx, bad *unreadable) error) error {
	var bad unreadable
	err := s.view(ctx, func(tx *bolt.Tx) error {
		bad = bad[:0]
		return fn(tx, &bad)
	})
	s.report(ctx, bad)
	return err
}

// get decodes the JSON document stored under id into v, or returns
// latch.ErrNotFound, or an error wrapping latch.ErrUndecodable.
func get(b *bolt.Bucket, id string, v any) error {
	data := b.Get([]byte(id))
	if data == nil {
		return latch.ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %q: %w: %w", id, latch.ErrUndecodable, err)
	}
	return nil
}

func put(b *bolt.Bucket, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", id, err)
	}
	return b.Put([]byte(id), data)
}

// checkVersion reports whether an item read with getErr at version stored
// may be written by a caller that read it at version given (0: it must not
// exist).
func checkVersion(getErr error, stored, given int64) error {
	switch {
	case errors.Is(getErr, latch.ErrNotFound):
		if given != 0 {
			return fmt.Errorf("given version %d, but it does not exist: %w", given, latch.ErrConflict)
		}
		return nil
	case getErr != nil:
		return getErr
	case given == 0:
		return fmt.Errorf("it exists already: %w", latch.ErrConflict)
	case stored != given:
		return fmt.Errorf("given version %d, stored %d: %w", given, stored, latch.ErrConflict)
	}
	return nil
}

// timeKey is an index key ordered by time, then id: the time in UTC with
// fixed-width nanoseconds, so byte order is time order.
func timeKey(t time.Time, id string) []byte {
	return []byte(t.UTC().Format(timeLayout) + "\x00" + id)
}

const timeLayout = "2006-01-02T15:04:05.000000000Z"

// idOf returns the id that ends an index key.
func idOf(k []byte) string { return string(k[bytes.LastIndexByte(k, 0)+1:]) }

// lastBefore moves c to the last key before k. Index keys hold no 0xff
// bytes, so p+0xff sorts after every key with prefix p.
func lastBefore(c *bolt.Cursor, k []byte) ([]byte, []byte) {
	k, _ = c.Seek(k)
	if k == nil {
		return c.Last()
	}
	return c.Prev()
}

func uniq[T comparable](xs []T) []T {
	var out []T
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// seqKey is the audit index key of an event: request id, NUL, the Seq as
// 8 bytes that sort in numeric order, then the event id.
func seqKey(e latch.AuditEvent) []byte {
	k := make([]byte, 0, len(e.RequestID)+9+len(e.ID))
	k = append(k, e.RequestID...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(e.Seq)^(1<<63))
	return append(k, e.ID...)
}

// decodePrefix decodes the JSON values of the keys of bucket name that start
// with p, in key order, skipping (and adding to bad) those that cannot be
// decoded.
func decodePrefix[T any](tx *bolt.Tx, name, p []byte, bad *unreadable) []T {
	var out []T
	c := tx.Bucket(name).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var t T
		if err := json.Unmarshal(v, &t); err != nil {
			bad.add(name, k, err)
			continue
		}
		out = append(out, t)
	}
	return out
}
