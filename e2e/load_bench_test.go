package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
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
			rate := load(b, n, func() error {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/requests", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
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
	db, err := bolt.Open(filepath.Join(b.TempDir(), "baseline.db"), 0o600, nil)
	if err != nil {
		b.Fatalf("bolt.Open: %v", err)
	}
	defer db.Close()
	bucket := []byte("requests")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		b.Fatalf("create bucket: %v", err)
	}
	value := make([]byte, 600)
	var mu sync.Mutex
	next := 0
	return load(b, n, func() error {
		mu.Lock()
		next++
		key := fmt.Appendf(nil, "r%08d", next)
		mu.Unlock()
		put := func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, value) }
		if batch {
			return db.Batch(put)
		}
		return db.Update(put)
	})
}

// load runs op b.N times from n concurrent clients and reports ops/s, p50_ms
// and p99_ms; it returns the rate.
func load(b *testing.B, n int, op func() error) float64 {
	jobs := make(chan struct{})
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for range jobs {
				start := time.Now()
				err := op()
				d := time.Since(start)
				if err != nil {
					b.Errorf("write: %v", err)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "ops/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	return rate
}
