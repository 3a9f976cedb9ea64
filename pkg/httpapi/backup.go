package httpapi

import (
	"context"
	"io"
	"net/http"
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
// transaction, streamed while writers go on. An error after the first byte
// aborts the connection, so a cut copy is never taken for a whole one (the
// CLI also checks the copy before keeping it).
func (s *Server) backup(w http.ResponseWriter, r *http.Request, _ Principal) error {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="latch.db"`)
	rc := http.NewResponseController(w)
	dw := &deadlineWriter{w: w, rc: rc}
	n, err := s.Backup.Backup(r.Context(), dw)
	if err != nil {
		if dw.wrote {
			s.Log.ErrorContext(r.Context(), "backup failed part-way; the connection is cut", "bytes", n, "err", err)
			panic(http.ErrAbortHandler)
		}
		return err
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
