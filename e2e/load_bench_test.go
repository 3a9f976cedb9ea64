package e2e

import (
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkCreateRequests loads POST /v1/requests of a real `latch server`
// (built without the race detector, rate limit off) from 8 concurrent
// clients and reports requests per second and the p50 and p99 latencies.
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
	srv := startServer(b, writeFlows(b, map[string]string{"deploy.yaml": approvalOnlyFlow}), b.TempDir(), "--rate-limit", "0", "--log-level", "warn")
	body := []byte(`{"flow":"deploy","user_email":"bob@example.com","fields":{"reason":"load"}}`)
	const workers = 8
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	jobs := make(chan struct{})
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/requests", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				start := time.Now()
				resp, err := client.Do(req)
				d := time.Since(start)
				if err != nil || resp.StatusCode != http.StatusAccepted {
					b.Errorf("POST /v1/requests: %v %v", err, resp)
				}
				if resp != nil {
					resp.Body.Close()
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
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
