package local

import (
	"context"
	"time"
)

// step makes one attempt at a piece of the runner's work. It returns
// whether to make another, and after how long: a wait is spent on a timer,
// off the pool, so that a target that fails does not hold a worker. A wait
// of onReports runs the next call at once on the reports pool: recording
// the escalator's answer waits for the store, not for the target, and does
// not hold one of the target's workers.
type step func() (wait time.Duration, again bool)

// onReports is the wait of a step whose next call records a result.
const onReports = time.Duration(-1)

// reportsPool records the escalators' answers; ReportWorkers at once.
const reportsPool = "\x00reports"

// ReportWorkers is how many results of escalators are recorded at once:
// many, so that the store groups them into few commits.
const ReportWorkers = 64

// job is a piece of work: escalating, revoking or checking one grant.
type job struct {
	key  string // "escalate/<grant>", "deescalate/<grant>", "overdue/<grant>"
	pool string // where it runs now
	home string // its target system's pool
	next step
	make func() step // a fresh run, when the work is asked for again
}

// pool runs the jobs of one target system, first come first served, on at
// most RunnerConfig.Workers goroutines, which end when there is no work.
type pool struct {
	queue []*job
	busy  int // goroutines
}

// overduePool runs the overdue checks, apart from every target system.
const overduePool = "\x00overdue"

// poolOf names the pool of a grant's work: its flow's, whose escalator
// talks to one target system. A grant that cannot be read goes to the
// unnamed pool, where the work finds out for itself.
func (r *Runner) poolOf(ctx context.Context, grantID string) string {
	g, err := r.c.Store.GetGrant(ctx, grantID)
	if err != nil {
		return ""
	}
	return g.Flow
}

// start queues the work on its pool unless the same work is under way.
// Work asked for while it runs is run again when it is done, because it may
// have come after the running work last read the grant (a revoke retried
// just as its failure is reported); each run reloads the grant and does
// nothing if no longer needed.
func (r *Runner) start(key, pool string, mk func() step) {
	r.startWith(key, pool, nil, mk)
}

// startWith is start whose first run is first, when it is not nil; a run
// afresh is mk's.
func (r *Runner) startWith(key, pool string, first step, mk func() step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil || r.closed {
		return
	}
	if _, ok := r.running[key]; ok {
		r.running[key] = true
		return
	}
	r.running[key] = false
	r.wg.Add(1)
	if first == nil {
		first = mk()
	}
	r.enqueueLocked(&job{key: key, pool: pool, home: pool, next: first, make: mk})
}

func (r *Runner) enqueueLocked(j *job) {
	p, ok := r.pools[j.pool]
	if !ok {
		p = &pool{}
		r.pools[j.pool] = p
	}
	p.queue = append(p.queue, j)
	limit := r.c.Workers
	if j.pool == reportsPool {
		limit = ReportWorkers
	}
	if p.busy < limit {
		p.busy++
		go r.work(j.pool, p)
	}
}

// work runs a pool's jobs until its queue is empty.
func (r *Runner) work(name string, p *pool) {
	for {
		r.mu.Lock()
		if len(p.queue) == 0 {
			p.busy--
			if p.busy == 0 {
				delete(r.pools, name)
			}
			r.mu.Unlock()
			return
		}
		j := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		stopped := r.ctx.Err() != nil
		r.mu.Unlock()
		wait, again := time.Duration(0), false
		if !stopped {
			wait, again = j.next()
		}
		r.mu.Lock()
		switch {
		case r.ctx.Err() != nil:
			r.finishLocked(j)
		case again && wait == onReports:
			j.pool = reportsPool
			r.enqueueLocked(j)
		case again:
			r.parked[j.key] = j
			r.c.Timers.call("retry/"+j.key, r.c.Clock.Now().Add(wait), func() { r.unpark(j) })
		case r.running[j.key]:
			// Asked for again while it ran: run it afresh.
			r.running[j.key] = false
			j.next, j.pool = j.make(), j.home
			r.enqueueLocked(j)
		default:
			r.finishLocked(j)
		}
		r.mu.Unlock()
	}
}

func (r *Runner) finishLocked(j *job) {
	delete(r.running, j.key)
	r.wg.Done()
}

// unpark queues a job whose wait is over.
func (r *Runner) unpark(j *job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.parked[j.key] != j {
		return // released at shutdown
	}
	delete(r.parked, j.key)
	if r.ctx.Err() != nil {
		r.finishLocked(j)
		return
	}
	r.enqueueLocked(j)
}

// unparkAll ends the waiting jobs once the runner's context is done: their
// timers will not fire.
func (r *Runner) unparkAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, j := range r.parked {
		delete(r.parked, key)
		r.c.Timers.stop("retry/" + key)
		r.finishLocked(j)
	}
}

// recent is a set of grant versions kept for at least recentFor and at most
// twice that: two maps, the older dropped as a whole when the newer is
// that old.
type recent struct {
	cur, old map[string]int64
	since    time.Time // when cur was started
}

// recentFor is how long a settled version is kept: longer than a hand-off
// can take to follow its commit (the engine hands over right after it; an
// effect not done within a minute is the outbox's, which reads).
const recentFor = 2 * time.Minute

// handoffFresh is how long a revoke handed over may wait for its pool and
// still act on the grant it was handed: well within recentFor, so that a
// version settled meanwhile is still known. Past it the grant is read.
var handoffFresh = recentFor / 2 // a variable for tests

func (s *recent) get(id string) (int64, bool) {
	if v, ok := s.cur[id]; ok {
		return v, true
	}
	v, ok := s.old[id]
	return v, ok
}

func (s *recent) put(id string, v int64, now time.Time) {
	if s.cur == nil || now.Sub(s.since) >= recentFor {
		s.old, s.cur, s.since = s.cur, map[string]int64{}, now
	}
	if old, ok := s.get(id); ok && old > v {
		v = old
	}
	s.cur[id] = v
}
