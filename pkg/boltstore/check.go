package boltstore

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/latchhq/latch/pkg/latch"
)

// SchemaVersion is the layout of the store this build writes and reads. A
// store records the version that wrote it; Open refuses a store of a newer
// version, since an older build could misread or damage it. Version 2 added
// the request indexes of every filter combination and the due index, which
// an older build would not keep up to date: a store is moved to 2 in the
// same transaction that builds them, and older builds then refuse it.
const SchemaVersion = 2

// AuditRecordUnreadable is the type of the audit event the store records,
// once per record, when a stored record cannot be decoded (or an index names
// one that is missing): the record is skipped by every list and by
// re-arming, and the event tells admins which one, so that it can be
// repaired from a backup. It belongs to no request. Data: file, bucket,
// key, error.
const AuditRecordUnreadable latch.AuditType = "store_record_unreadable"

var (
	bucketMeta       = []byte("meta")           // schema_version → decimal
	keySchemaVersion = []byte("schema_version") // in bucketMeta
)

// DamagedError is Open's error for a file that is not a sound store: empty,
// truncated, failing bbolt's consistency check, or written by a newer
// version. Its message names the file and says what to do.
type DamagedError struct {
	Path   string
	Reason string // what is wrong, e.g. "it is empty (0 bytes)"
	Newer  bool   // the store is sound but of a newer schema version
}

func (e *DamagedError) Error() string {
	if e.Newer {
		return fmt.Sprintf("store %s: %s. Run the version of latch that wrote it, or restore a backup made by this version (see docs/server.md).", e.Path, e.Reason)
	}
	return fmt.Sprintf("store %s is damaged: %s. Latch will not start over a damaged store, since the grants it holds "+
		"would never be revoked. Restore the last backup (made by 'latch backup FILE'): stop latch server, keep the damaged file "+
		"aside (mv %s %s.damaged), copy the backup to %s, start latch server again (see docs/server.md). "+
		"Remove the file only if this server never held data.", e.Path, e.Reason, e.Path, e.Path, e.Path)
}

func damaged(path, format string, args ...any) error {
	return &DamagedError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// minFileSize is the smallest file bbolt writes: four pages (two meta
// pages, the freelist and the root) of at least 1 KiB.
const minFileSize = 4 * 1024

// maxCheckErrors bounds the consistency problems one refusal lists.
const maxCheckErrors = 5

// openChecked opens the bbolt file at path and checks it: a 0-byte or
// too-short file, a file shorter than its own high-water mark, a page bbolt
// cannot read (a panic or a memory fault, recovered here) and any finding of
// the whole-file check (check) are a *DamagedError. It never creates a store
// over an existing empty file. readOnly opens it shared, for Verify. later
// leaves the whole-file check to the caller (WithBackgroundCheck): only the
// size, the meta pages and what bbolt reads as it opens are checked.
func openChecked(path string, readOnly, later bool) (db *bolt.DB, err error) {
	switch fi, err := os.Stat(path); {
	case errors.Is(err, fs.ErrNotExist):
		if readOnly {
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("store %s: %w", path, err)
	case fi.IsDir():
		return nil, fmt.Errorf("store %s: is a directory, not a file", path)
	case fi.Size() == 0:
		return nil, damaged(path, "it is empty (0 bytes)")
	case fi.Size() < minFileSize:
		return nil, damaged(path, "it is truncated (%d bytes; a store has at least %d)", fi.Size(), minFileSize)
	}
	if err := checkHeader(path); err != nil {
		return nil, err
	}
	old := debug.SetPanicOnFault(true) // bbolt reads the freelist as it opens
	defer debug.SetPanicOnFault(old)
	defer guard(path, &err)
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: readOnly})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: the file is locked; is another latch server using it? %w", path, err)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		return nil, damaged(path, "bbolt cannot open it: %v", err)
	}
	if later {
		return db, nil
	}
	if err := check(context.Background(), db, path); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// checkHeader reads the file's two meta pages as bbolt writes them (a
// 16-byte page header, then magic, version, page size, flags, root bucket,
// freelist, high-water page id, transaction id and an FNV-64a checksum of
// what precedes it) and refuses the file when neither is valid or when the
// file is shorter than the newest valid one's high-water mark: bbolt would
// read past the end of the file. A missing file passes (it is created).
func checkHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	_, err = newestMeta(f, fi.Size(), path)
	return err
}

// newestMeta returns the valid meta page of f (of size bytes) with the
// highest transaction id, the one bbolt uses, and refuses the file as
// checkHeader says.
func newestMeta(f *os.File, size int64, path string) (*boltMeta, error) {
	var best *boltMeta
	pageSize := int64(os.Getpagesize())
	for i := range 2 {
		var buf [16 + 64]byte
		if _, err := f.ReadAt(buf[:], int64(i)*pageSize); err != nil {
			continue
		}
		m, ok := parseMeta(buf[16:])
		if !ok {
			continue
		}
		if i == 0 {
			pageSize = int64(m.pageSize)
		}
		if best == nil || m.txid > best.txid {
			best = &m
		}
	}
	if best == nil {
		return nil, damaged(path, "neither of its two header pages is valid (not a bbolt file, or both were overwritten)")
	}
	if hw := int64(best.pgid) * int64(best.pageSize); size < hw {
		return nil, damaged(path, "it is truncated (%d bytes; its header says %d)", size, hw)
	}
	return best, nil
}

type boltMeta struct {
	pageSize                   uint32
	root, freelist, pgid, txid uint64
}

// parseMeta decodes a bbolt meta page body and reports whether its magic,
// version and checksum are right.
func parseMeta(b []byte) (boltMeta, bool) {
	le := binary.LittleEndian
	const magic, version = 0xED0CDAED, 2
	h := fnv.New64a()
	h.Write(b[:56])
	if le.Uint32(b[0:]) != magic || le.Uint32(b[4:]) != version || le.Uint64(b[56:]) != h.Sum64() {
		return boltMeta{}, false
	}
	m := boltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]),
		pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	return m, m.pageSize >= 1024
}

// guard turns a bbolt panic or a memory fault while reading a damaged file
// into a *DamagedError. A fault is a panic only while SetPanicOnFault is on,
// and only in the goroutine that set it: the reads that may fault run in
// this one.
func guard(path string, err *error) {
	if r := recover(); r != nil {
		*err = damaged(path, "reading it failed: %v", r)
	}
}

// check is the whole-file check: checkPages (with pread), then, in a read
// transaction, bbolt's consistency check, which finds nothing wrong with
// every page that a bucket or branch reaches and every page below the
// high-water mark either reached or free. checkPages has made sure that
// every page bbolt's check reads is within the file and well formed, which
// is what keeps bbolt's check from faulting: it reads in a goroutine of its
// own, where SetPanicOnFault (set here for this goroutine's reads) does not
// apply, so a memory fault there would end the process. A panic of bbolt
// here is a *DamagedError. The pages the check read are released after it
// (releasePages). ctx stops checkPages; bbolt's check, once started, runs to
// its end, and Close waits for it.
func check(ctx context.Context, db *bolt.DB, path string) (err error) {
	if err := checkPages(ctx, path); err != nil {
		return err
	}
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer guard(path, &err)
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	return db.View(func(tx *bolt.Tx) error {
		if tx.Size() > fi.Size() {
			return damaged(path, "it is truncated (%d bytes; its own header says %d)", fi.Size(), tx.Size())
		}
		var found []string
		for err := range tx.Check() {
			if len(found) < maxCheckErrors {
				found = append(found, err.Error())
			}
		}
		releasePages(tx)
		if len(found) > 0 {
			return damaged(path, "the consistency check found: %s", strings.Join(found, "; "))
		}
		return nil
	})
}

// checkSchema records SchemaVersion in a store that has none (a new store,
// or one written before versions were recorded) and refuses a newer one.
func checkSchema(tx *bolt.Tx, path string) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketMeta, err)
	}
	if meta.Get(keySchemaVersion) == nil {
		return meta.Put(keySchemaVersion, []byte(fmt.Sprint(SchemaVersion)))
	}
	if err := readSchema(tx, path); err != nil {
		return err
	}
	// An older layout is upgraded by Open's transaction (the indexes it
	// lacks are built there): record that this version wrote it.
	return meta.Put(keySchemaVersion, []byte(fmt.Sprint(SchemaVersion)))
}

// readSchema refuses a store whose recorded schema version is newer than
// SchemaVersion (none recorded: a store of before versions, schema 1).
func readSchema(tx *bolt.Tx, path string) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || meta.Get(keySchemaVersion) == nil {
		return nil
	}
	v := meta.Get(keySchemaVersion)
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 1 {
		return damaged(path, "its schema version %q is not a number", v)
	}
	if n > SchemaVersion {
		return &DamagedError{Path: path, Newer: true,
			Reason: fmt.Sprintf("it was written by a newer version of latch (store schema %d; this latch reads schema %d and older)", n, SchemaVersion)}
	}
	return nil
}

// docTypes decodes the documents of each bucket that holds them, to find the
// ones that cannot be read.
var docTypes = map[string]func([]byte) error{
	string(bucketRequests):    decodeAs[latch.Request],
	string(bucketGrants):      decodeAs[latch.Grant],
	string(bucketAudit):       decodeAs[latch.AuditEvent],
	string(bucketOutbox):      decodeAs[latch.Effect],
	string(bucketUsers):       decodeAs[latch.User],
	string(bucketIdentities):  decodeAs[latch.Identity],
	string(bucketDomains):     decodeAs[latch.Domain],
	string(bucketTokens):      decodeAs[latch.Token],
	string(bucketMessageRefs): decodeAs[latch.MessageRef],
}

func decodeAs[T any](data []byte) error {
	var t T
	return json.Unmarshal(data, &t)
}

// scanBatch is the number of documents the scan decodes between two
// releases of the pages it read.
const scanBatch = 4096

// scanDocuments decodes every stored document and reports those that
// cannot be decoded: at start, so that admins hear of them before a list
// skips them.
func (s *Store) scanDocuments(ctx context.Context) error {
	var bad unreadable
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		for name, decode := range docTypes {
			err := tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := decode(v); err != nil {
					bad.add([]byte(name), k, err)
				}
				if n++; n%scanBatch == 0 {
					// Pace: the pages read so far are released, and the
					// scan yields to the work that serves requests.
					releasePages(tx)
					runtime.Gosched()
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		releasePages(tx) // the scan read every document
		return nil
	})
	if ctx.Err() != nil {
		return err // stopped by Close: what was found is reported at the next start
	}
	s.report(ctx, bad)
	return err
}

// unreadable collects the records a read skipped because they could not be
// decoded, or because an index names a record that is not there, to report
// them after the read's transaction.
type unreadable []badRecord

type badRecord struct {
	bucket, key string
	err         error
}

func (u *unreadable) add(bucket, key []byte, err error) {
	*u = append(*u, badRecord{bucket: string(bucket), key: string(key), err: err})
}

// getOr decodes the document id of bucket name into v and reports true, or
// adds it to u and reports false when it is missing or cannot be decoded.
func getOr(tx *bolt.Tx, name []byte, id string, v any, u *unreadable) bool {
	data := tx.Bucket(name).Get([]byte(id))
	if data == nil {
		u.add(name, []byte(id), errors.New("an index names it, but it is not there"))
		return false
	}
	if err := json.Unmarshal(data, v); err != nil {
		u.add(name, []byte(id), err)
		return false
	}
	return true
}

// report logs each unreadable record at ERROR and records an
// AuditRecordUnreadable event for it, once per record and process (and,
// through the event's stable ID, once per store).
func (s *Store) report(ctx context.Context, bad unreadable) {
	for _, b := range bad {
		key := printableKey(b.key)
		id := unreadableID(b.bucket, b.key)
		if _, seen := s.reported.LoadOrStore(id, true); seen {
			continue
		}
		s.log.ErrorContext(ctx, "store: a record cannot be read; lists and re-arming skip it until it is repaired from a backup",
			"file", s.path, "bucket", b.bucket, "key", key, "err", b.err)
		ev := latch.AuditEvent{ID: id, Type: AuditRecordUnreadable, At: time.Now().UTC(), Source: latch.SourceLatch,
			Reason: "A stored record cannot be read; it is skipped.",
			Data:   map[string]any{"file": s.path, "bucket": b.bucket, "key": key, "error": b.err.Error()}}
		if err := s.AppendAudit(context.WithoutCancel(ctx), ev); err != nil && !errors.Is(err, latch.ErrConflict) {
			s.log.ErrorContext(ctx, "store: could not record the audit event of an unreadable record", "key", key, "err", err)
		}
	}
}

// unreadableID is the ID of the event reporting a record: evt_ and 26
// base32 characters of a hash of its bucket and key, the same each time.
func unreadableID(bucket, key string) string {
	sum := sha256.Sum256([]byte("store_record_unreadable\x00" + bucket + "\x00" + key))
	return "evt_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))[:26]
}

// printableKey is a key as it can be shown and used in an event ID: as it is
// when it is text without NUL, else in hex.
func printableKey(k string) string {
	if keyable(k) && !strings.ContainsAny(k, "\n\r") {
		return k
	}
	return "hex:" + hex.EncodeToString([]byte(k))
}

// Backup writes a consistent copy of the whole store to w (bbolt's
// Tx.WriteTo in a read transaction: writers go on meanwhile) and returns the
// number of bytes written. The copy is a store file Open accepts.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup %s: %w", s.path, err)
	}
	return n, nil
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Verify checks the store file at path without changing it (a shared,
// read-only open): it must pass the checks Open makes and be of a schema
// this build reads. It returns the numbers of requests and grants it holds.
// A store in use by a latch server cannot be verified (the server holds the
// file's lock): verify its backup.
func Verify(path string) (requests, grants int, err error) {
	db, err := openChecked(path, true, false)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if err := readSchema(tx, path); err != nil {
			return err
		}
		if b := tx.Bucket(bucketRequests); b != nil {
			requests = b.Stats().KeyN
		}
		if b := tx.Bucket(bucketGrants); b != nil {
			grants = b.Stats().KeyN
		}
		return nil
	})
	return requests, grants, err
}
