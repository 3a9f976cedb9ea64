// Package benchbase is the yardstick the write benchmarks are measured
// beside in the same run: bbolt's own limit, one durable transaction per
// write of a value about the size of a new request's JSON, and nothing else.
// pkg/boltstore's BenchmarkConcurrentBaseline and e2e's
// BenchmarkCreateRequests both write through it.
package benchbase

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ValueSize is the size of each write: about a new request's JSON.
const ValueSize = 600

var bucket = []byte("requests")

// Bolt is a bbolt file in a directory of its own with one bucket.
type Bolt struct {
	db    *bolt.DB
	value []byte
}

// OpenBolt creates the file baseline.db in dir with one empty bucket.
func OpenBolt(dir string) (*Bolt, error) {
	db, err := bolt.Open(filepath.Join(dir, "baseline.db"), 0o600, nil)
	if err != nil {
		return nil, fmt.Errorf("benchbase: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("benchbase: create bucket: %w", err)
	}
	return &Bolt{db: db, value: make([]byte, ValueSize)}, nil
}

// Write puts the value under key i in one fsync'd transaction: db.Update,
// or, with batch, db.Batch (which joins concurrent calls in one
// transaction, waiting up to its 10 ms timer for more).
func (b *Bolt) Write(i int, batch bool) error {
	key := fmt.Appendf(nil, "r%08d", i)
	put := func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, b.value) }
	if batch {
		return b.db.Batch(put)
	}
	return b.db.Update(put)
}

// Close closes the file.
func (b *Bolt) Close() error { return b.db.Close() }

// Load runs op b.N times, with i from 0 to b.N-1, from n concurrent
// clients, and reports ops/s, p50_ms and p99_ms; it returns the rate. An
// op's error fails the benchmark (b.Error) and counts in the latencies.
func Load(b *testing.B, n int, op func(i int) error) float64 {
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Go(func() {
			var own []time.Duration
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					break
				}
				t := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
				}
				own = append(own, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "ops/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	}
	return rate
}
