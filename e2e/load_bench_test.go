package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/latchhq/latch/internal/benchbase"
)

// loadClients are the numbers of concurrent clients the write path is
// measured at.
var loadClients = []int{1, 8, 64}

// BenchmarkCreateRequests loads POST /v1/requests of a real `latch server`
// (built without the race detector, rate limit off) from 1, 8 and 64
// concurrent keep-alive clients and reports requests per second and the p50
// and p99 latencies. Beside it, in the same run, baseline=update is bbolt's
// own limit on the same disk: one fsync'd db.Update of a 600-byte value per
// write (about a new request's JSON), nothing else; baseline=batch is the
// same through db.Batch. x-baseline is the server's rate over the update
// baseline's at the same number of clients, the figure that the disk's
// speed changes least.
//
//	go test -run '^$' -bench CreateRequests -benchtime 2000x ./e2e
func BenchmarkCreateRequests(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "latch")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/latch").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	raceBin := latchBin
	latchBin = bin
	defer func() { latchBin = raceBin }()
	for _, n := range loadClients {
		var baseline float64
		b.Run(fmt.Sprintf("clients=%d/baseline=update", n), func(b *testing.B) {
			baseline = boltBaseline(b, n, false)
		})
		b.Run(fmt.Sprintf("clients=%d/baseline=batch", n), func(b *testing.B) {
			boltBaseline(b, n, true)
		})
		b.Run(fmt.Sprintf("clients=%d/server", n), func(b *testing.B) {
			srv := startServer(b, writeFlows(b, map[string]string{"deploy.yaml": approvalOnlyFlow}), b.TempDir(),
				"--rate-limit", "0", "--log-level", "warn")
			body := []byte(`{"flow":"deploy","user_email":"bob@example.com","fields":{"reason":"load"}}`)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
			rate := benchbase.Load(b, n, func(int) error {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/requests", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body) // read to the end, or the connection is not reused
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			})
			if baseline > 0 {
				b.ReportMetric(rate/baseline, "x-baseline")
			}
		})
	}
}

// boltBaseline measures bbolt's own write limit from n clients: one
// durable transaction per write, through db.Update or db.Batch.
func boltBaseline(b *testing.B, n int, batch bool) float64 {
	db, err := benchbase.OpenBolt(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	return benchbase.Load(b, n, func(i int) error { return db.Write(i, batch) })
}
