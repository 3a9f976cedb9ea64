package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
)

// BenchmarkStartSeeded starts `latch server` (built without the race
// detector) on a store seeded with 50,000 requests — 10,000 of them active,
// each with its grant active for one to eight hours more, 1,000 pending,
// the rest ended — and on an empty store, and reports for each the time
// from the process's start to its first /healthz answer (start_ms) and its
// resident memory then (rss_MiB, from /proc: VmRSS, which counts the pages
// of the store file bbolt has mapped and read, and anon_MiB, RssAnon: the
// process's own memory). cpu_ms is the CPU time (user and system) the
// process used until it answered: on a machine shared with other work, the
// figure that changes least. Then, once /readyz says ready (the store
// checked, the outbox's effects carried out and the timers of the open
// grants and pending requests re-armed, all after the first answer):
// ready_ms, ready_rss_MiB and ready_anon_MiB. per_grant_KiB is the
// difference of the two stores' anon figures when ready over the 10,000
// active grants.
//
// To measure again and again cheaply: LATCH_BENCH_BIN names a latch binary
// to start instead of building one, and LATCH_BENCH_SEEDED a directory for
// the seeded store, seeded only when it holds no latch.db yet (the servers
// started write to it; remove it when its grants have ended).
func BenchmarkStartSeeded(b *testing.B) {
	bin := os.Getenv("LATCH_BENCH_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "latch")
		if out, err := exec.Command("go", "build", "-o", bin, "../cmd/latch").CombinedOutput(); err != nil {
			b.Fatalf("build: %v\n%s", err, out)
		}
	}
	raceBin := latchBin
	latchBin = bin
	defer func() { latchBin = raceBin }()
	flows := writeFlows(b, map[string]string{"prod-access.yaml": webhookFlow("http://127.0.0.1:9/latch")})
	const requests, active, pending = 50000, 10000, 1000
	seeded := os.Getenv("LATCH_BENCH_SEEDED")
	if seeded == "" {
		seeded = b.TempDir()
	}
	if _, err := os.Stat(filepath.Join(seeded, "latch.db")); err != nil {
		if err := os.MkdirAll(seeded, 0o700); err != nil {
			b.Fatal(err)
		}
		seedStore(b, filepath.Join(seeded, "latch.db"), requests, active, pending)
	}
	b.ResetTimer()
	var emptyAnon, seededAnon float64
	for range b.N {
		for _, c := range []struct {
			name string
			dir  func() string
			anon *float64
		}{{"empty", b.TempDir, &emptyAnon}, {"seeded", func() string { return seeded }, &seededAnon}} {
			start, mem, ready, memReady := startOnce(b, flows, c.dir())
			b.ReportMetric(float64(start)/float64(time.Millisecond), c.name+"_start_ms")
			b.ReportMetric(mem["VmRSS"], c.name+"_rss_MiB")
			b.ReportMetric(mem["RssAnon"], c.name+"_anon_MiB")
			b.ReportMetric(mem["cpu_ms"], c.name+"_cpu_ms")
			b.ReportMetric(float64(ready)/float64(time.Millisecond), c.name+"_ready_ms")
			b.ReportMetric(memReady["VmRSS"], c.name+"_ready_rss_MiB")
			b.ReportMetric(memReady["RssAnon"], c.name+"_ready_anon_MiB")
			*c.anon = memReady["RssAnon"]
		}
	}
	b.ReportMetric((seededAnon-emptyAnon)*1024/active, "per_grant_KiB")
}

// startOnce starts the server on dataDir, waits for its first /healthz
// answer and reads its memory (MiB by /proc/PID/status field), then waits
// for /readyz to say ready and reads it again, and stops it.
func startOnce(b *testing.B, flows, dataDir string) (time.Duration, map[string]float64, time.Duration, map[string]float64) {
	b.Helper()
	t0 := time.Now()
	srv := startServer(b, flows, dataDir, "--log-level", "warn")
	took := waitOK(b, srv.URL+"/healthz", t0)
	mem := procMemory(b, srv.cmd.Process.Pid)
	ready := waitOK(b, srv.URL+"/readyz", t0)
	memReady := procMemory(b, srv.cmd.Process.Pid)
	srv.stop()
	return took, mem, ready, memReady
}

// waitOK polls url until it answers 200 and returns how long that took
// since t0.
func waitOK(b *testing.B, url string, t0 time.Time) time.Duration {
	b.Helper()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0)
			}
		}
		if time.Since(t0) > time.Minute {
			b.Fatalf("no 200 from %s within a minute: %v", url, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// procMemory reads the process's memory (MiB by /proc/PID/status field)
// and its CPU time so far (cpu_ms).
func procMemory(b *testing.B, pid int) map[string]float64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("read the server's memory: %v", err)
	}
	mem := map[string]float64{}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// After the command name in parentheses: state is field 3, utime
		// and stime (clock ticks, 100 a second) fields 14 and 15.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		utime, _ := strconv.Atoi(f[11])
		stime, _ := strconv.Atoi(f[12])
		mem["cpu_ms"] = float64(utime+stime) * 10
	}
	for _, line := range strings.Split(string(status), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB")); ok && err == nil {
			mem[name] = float64(kb) / 1024
		}
	}
	return mem
}

// seedStore writes n requests of the prod-access flow straight into a new
// store, each with the audit trail of its life: the first active of them
// with an active grant, the next pending waiting for approvers, the rest
// ended with their grant.
func seedStore(b testing.TB, path string, n, active, pending int) {
	b.Helper()
	s, err := boltstore.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	var c latch.Change
	for i := range n {
		id := fmt.Sprintf("req_%08d", i)
		user := latch.UserRef{Email: fmt.Sprintf("user%d@example.com", i)}
		created := now.Add(-time.Duration(n-i) * time.Minute)
		r := latch.Request{ID: id, Flow: "prod-access", Requester: user, CreatedBy: latch.Actor{Email: user.Email},
			Source: latch.SourceAPI, Fields: latch.Fields{"reason": "incident " + id, "duration": int64(3600)},
			TargetID: "prod-db", Duration: 3600, CreatedAt: created, UpdatedAt: created}
		types := []latch.AuditType{latch.AuditRequested}
		switch {
		case i < active:
			end := now.Add(time.Hour + time.Duration(i%7)*time.Hour)
			g := latch.Grant{ID: fmt.Sprintf("grt_%08d", i), Key: "prod-access/prod-db/" + user.Email, Flow: "prod-access",
				TargetID: "prod-db", User: user, Status: latch.GrantActive, StartsAt: &created,
				Leases:   []latch.Lease{{RequestID: id, Duration: 3600, StartsAt: created, EndsAt: end}},
				Identity: user.Email, CreatedAt: created, UpdatedAt: created}
			r.Status, r.GrantID, r.StartsAt, r.EndsAt = latch.StatusActive, g.ID, &created, &end
			r.Approvals = []latch.Decision{{By: latch.Actor{Email: "alice@example.com"}, At: created}}
			c.Grants = append(c.Grants, g)
			types = append(types, latch.AuditApproved, latch.AuditEscalated)
		case i < active+pending:
			expires := now.Add(time.Hour)
			r.Status, r.ExpiresAt = latch.StatusPending, &expires
		default:
			end := created.Add(time.Hour)
			g := latch.Grant{ID: fmt.Sprintf("grt_%08d", i), Key: "prod-access/prod-db/" + user.Email, Flow: "prod-access",
				TargetID: "prod-db", User: user, Status: latch.GrantEnded, StartsAt: &created, EndedAt: &end,
				Leases:   []latch.Lease{{RequestID: id, Duration: 3600, StartsAt: created, EndsAt: end}},
				Identity: user.Email, CreatedAt: created, UpdatedAt: end}
			r.Status, r.GrantID, r.StartsAt, r.EndsAt = latch.StatusEnded, g.ID, &created, &end
			r.Approvals = []latch.Decision{{By: latch.Actor{Email: "alice@example.com"}, At: created}}
			c.Grants = append(c.Grants, g)
			types = append(types, latch.AuditApproved, latch.AuditEscalated, latch.AuditDeescalated)
		}
		for k, t := range types {
			c.Audit = append(c.Audit, latch.AuditEvent{ID: fmt.Sprintf("evt_%08d_%d", i, k), RequestID: id, Seq: int64(k + 1),
				Type: t, At: created, Flow: r.Flow, Requester: user.Email, Actor: r.CreatedBy, TargetID: r.TargetID,
				GrantID: r.GrantID, Source: r.Source})
		}
		r.EventSeq = int64(len(types))
		c.Requests = append(c.Requests, r)
		if len(c.Requests) == 1000 || i == n-1 {
			if err := s.Commit(context.Background(), c); err != nil {
				b.Fatalf("seed: %v", err)
			}
			c = latch.Change{}
		}
	}
}
