// Package oncall answers whether a person is on call, for flows that name an
// on-call source (oncall: in flow files), so that their rules can use
// requester.on_call and approver.on_call. The one provider is PagerDuty's
// REST API v2, through github.com/PagerDuty/go-pagerduty: the person is
// found by email (GET /users?query=EMAIL), then asked for in the flow's
// schedules (GET /oncalls?schedule_ids[]=…&user_ids[]=…), following
// offset/limit/more pagination. A 429 is waited out as its Retry-After says
// (a few times, briefly); answers are cached for a minute.
package oncall

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/latchhq/latch/pkg/latch"
)

// Options tune a PagerDuty source. The zero value is PagerDuty itself.
type Options struct {
	// Endpoint is the API's base URL; empty is https://api.pagerduty.com
	// (tests point it at a fake).
	Endpoint string
	// HTTP is the client; nil is one with a 10-second timeout.
	HTTP *http.Client
	// Clock times the cache; nil is the system clock.
	Clock latch.Clock
	// TTL is how long an answer is kept; zero is DefaultTTL.
	TTL time.Duration
	// Sleep waits out a 429; nil sleeps (or returns when ctx ends).
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultTTL is how long an answer is cached.
const DefaultTTL = time.Minute

// MaxRetryAfter bounds the wait for one 429, and MaxRetries how often a
// call is retried after one: a person is waiting for the answer.
const (
	MaxRetryAfter = 10 * time.Second
	MaxRetries    = 3
)

// pageSize is the limit asked for per page (PagerDuty's maximum).
const pageSize = 100

// PagerDuty is the on-call source of one flow: its schedules, its token.
// It implements latch.OnCallSource and is safe for concurrent use.
type PagerDuty struct {
	client    *pagerduty.Client
	schedules []string
	clock     latch.Clock
	ttl       time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	onCall bool
	at     time.Time
}

var _ latch.OnCallSource = (*PagerDuty)(nil)

// NewPagerDuty returns the source asking PagerDuty, with token, whether a
// person is on call in any of scheduleIDs.
func NewPagerDuty(token string, scheduleIDs []string, o Options) *PagerDuty {
	var opts []pagerduty.ClientOptions
	if o.Endpoint != "" {
		opts = append(opts, pagerduty.WithAPIEndpoint(strings.TrimRight(o.Endpoint, "/")))
	}
	c := pagerduty.NewClient(token, opts...)
	base := o.HTTP
	if base == nil {
		base = &http.Client{Timeout: 10 * time.Second}
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	c.HTTPClient = &retrying{base: base, sleep: sleep}
	p := &PagerDuty{client: c, schedules: slices.Clone(scheduleIDs), clock: o.Clock, ttl: o.TTL, cache: map[string]cached{}}
	if p.clock == nil {
		p.clock = latch.SystemClock
	}
	if p.ttl <= 0 {
		p.ttl = DefaultTTL
	}
	return p
}

// OnCall reports whether the PagerDuty user with email is on call now in
// one of the schedules. Someone PagerDuty does not know is not on call. An
// error (the API failed, rate limits that did not pass) leaves the answer
// unknown; it is not cached.
func (p *PagerDuty) OnCall(ctx context.Context, email string) (bool, error) {
	email = latch.NormalizeEmail(email)
	now := p.clock.Now()
	p.mu.Lock()
	c, ok := p.cache[email]
	p.mu.Unlock()
	if ok && now.Sub(c.at) < p.ttl {
		return c.onCall, nil
	}
	on, err := p.lookup(ctx, email)
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	p.cache[email] = cached{onCall: on, at: now}
	p.mu.Unlock()
	return on, nil
}

func (p *PagerDuty) lookup(ctx context.Context, email string) (bool, error) {
	userID := ""
	for offset := uint(0); userID == ""; {
		page, err := p.client.ListUsersWithContext(ctx, pagerduty.ListUsersOptions{Query: email, Limit: pageSize, Offset: offset})
		if err != nil {
			return false, fmt.Errorf("pagerduty: find user %s: %w", email, err)
		}
		for _, u := range page.Users {
			if latch.NormalizeEmail(u.Email) == email {
				userID = u.ID
				break
			}
		}
		if !page.More || len(page.Users) == 0 {
			break
		}
		offset += uint(len(page.Users))
	}
	if userID == "" {
		return false, nil
	}
	for offset := uint(0); ; {
		page, err := p.client.ListOnCallsWithContext(ctx, pagerduty.ListOnCallOptions{ScheduleIDs: p.schedules,
			UserIDs: []string{userID}, Limit: pageSize, Offset: offset})
		if err != nil {
			return false, fmt.Errorf("pagerduty: on-calls of %s: %w", email, err)
		}
		for _, oc := range page.OnCalls {
			if oc.User.ID == userID {
				return true, nil
			}
		}
		if !page.More || len(page.OnCalls) == 0 {
			return false, nil
		}
		offset += uint(len(page.OnCalls))
	}
}

// retrying is the HTTP client of the PagerDuty client: a 429 is retried
// after the Retry-After it names (bounded), a few times.
type retrying struct {
	base  *http.Client
	sleep func(context.Context, time.Duration) error
}

func (r *retrying) Do(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := r.base.Do(req)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || attempt >= MaxRetries || req.Body != nil {
			return resp, err
		}
		wait := retryAfter(resp.Header.Get("Retry-After"))
		resp.Body.Close()
		if err := r.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// retryAfter reads a Retry-After of whole seconds, bounded by
// MaxRetryAfter; one second when it is missing or unreadable.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return time.Second
	}
	return min(time.Duration(n)*time.Second, MaxRetryAfter)
}

// Sources builds the on-call source of each flow that names one, once, and
// keeps it (with its cache).
type Sources struct {
	// LookupEnv reads the token's environment variable (os.LookupEnv).
	LookupEnv func(string) (string, bool)
	Options   Options

	mu  sync.Mutex
	got map[string]latch.OnCallSource
}

// For returns the source of f's oncall, or nil when f names none. It fails
// when the token's variable is unset or the provider is unknown.
func (s *Sources) For(f *latch.Flow) (latch.OnCallSource, error) {
	cfg := f.OnCall
	if cfg == nil {
		return nil, nil
	}
	if cfg.Provider != "pagerduty" {
		return nil, fmt.Errorf("flow %q: oncall provider %q is not known; the providers are pagerduty", f.Name, cfg.Provider)
	}
	token, ok := s.LookupEnv(cfg.TokenEnv)
	if !ok || strings.TrimSpace(token) == "" {
		return nil, fmt.Errorf("flow %q: oncall.token_env names %s, which is not set", f.Name, cfg.TokenEnv)
	}
	key := f.Name + "\x00" + cfg.TokenEnv + "\x00" + strings.Join(cfg.ScheduleIDs, ",")
	s.mu.Lock()
	defer s.mu.Unlock()
	if src, ok := s.got[key]; ok {
		return src, nil
	}
	if s.got == nil {
		s.got = map[string]latch.OnCallSource{}
	}
	src := NewPagerDuty(token, cfg.ScheduleIDs, s.Options)
	s.got[key] = src
	return src, nil
}

// Check reports every flow whose on-call source cannot be built (its token
// unset), as latch server checks at start.
func (s *Sources) Check(flows []*latch.Flow) error {
	var errs []error
	for _, f := range flows {
		if _, err := s.For(f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
