package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/tokens"
)

// bigBackup writes size bytes as its copy and records when it returned:
// the store's read transaction lasts as long as Backup.
type bigBackup struct {
	size int64
	done atomic.Bool
}

func (b *bigBackup) Backup(_ context.Context, w io.Writer) (int64, error) {
	defer b.done.Store(true)
	chunk := make([]byte, 1<<20)
	var n int64
	for n < b.size {
		k, err := w.Write(chunk[:min(int64(len(chunk)), b.size-n)])
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// A caller that downloads a backup slowly does not hold the store's read
// transaction open (which would block a commit that grows the file): the
// copy is made first, then sent.
func TestSlowBackupDownloadDoesNotHoldTheStore(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	b := &bigBackup{size: 64 << 20} // more than the socket buffers hold
	s := &Server{Auth: &Tokens{Bootstrap: NewStaticToken("admin-token"), Service: &tokens.Service{Store: store}}, Backup: b}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/backup", nil)
	req.Header.Set("Authorization", "Bearer admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/backup = %d", resp.StatusCode)
	}
	// The caller has read nothing yet: the copy must be whole all the same.
	deadline := time.Now().Add(30 * time.Second)
	for !b.done.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the backup's read transaction is still open while the caller has not read the download")
		}
		time.Sleep(10 * time.Millisecond)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != b.size {
		t.Errorf("downloaded %d bytes, %v; want %d", n, err, b.size)
	}
}
