package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Backuper writes a consistent copy of the whole store (the bbolt store of
// latch server) and returns the number of bytes written.
type Backuper interface {
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// backupWriteWindow is how long each write of a backup may take: the
// server's WriteTimeout bounds a whole answer, and a backup may take longer
// than that as long as the caller keeps reading.
const backupWriteWindow = 30 * time.Second

// backup serves GET /v1/backup: the store file as it stands in one read
// transaction. The copy is written to a temporary local file first, then
// streamed from it, so that a slow caller never keeps the store's read
// transaction open (a commit that grows the file waits for open read
// transactions). An error after the first byte sent aborts the connection,
// so a cut copy is never taken for a whole one (the CLI also checks the
// copy before keeping it).
func (s *Server) backup(w http.ResponseWriter, r *http.Request, _ Principal) error {
	tmp, err := os.CreateTemp("", "latch-backup-*.db")
	if err != nil {
		return fmt.Errorf("backup: temporary file: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	n, err := s.Backup.Backup(r.Context(), tmp)
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="latch.db"`)
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	rc := http.NewResponseController(w)
	dw := &deadlineWriter{w: w, rc: rc}
	sent, err := io.Copy(dw, tmp)
	if err != nil || sent != n {
		s.Log.ErrorContext(r.Context(), "backup failed part-way; the connection is cut", "bytes", sent, "of", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	s.Log.InfoContext(r.Context(), "backup sent", "bytes", n)
	return nil
}

// deadlineWriter moves the connection's write deadline before each write,
// so that a long download is bounded per write, not as a whole.
type deadlineWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	wrote bool
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(backupWriteWindow))
	d.wrote = true
	return d.w.Write(p)
}
