package oncall_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/oncall"
	"github.com/latchhq/latch/pkg/oncall/pagerdutytest"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rig is a fake PagerDuty with people whose query matches several users
// (so that the user is on a later page) and on-call entries spread over
// pages, and a source asking it for schedule PSCHED1.
func rig(t *testing.T) (*pagerdutytest.Server, *oncall.PagerDuty, *clock, *[]time.Duration) {
	t.Helper()
	pd := pagerdutytest.NewServer(t)
	pd.AddUser("PJOANN1", "Joann", "joann@example.com") // matches a query for ann@example.com
	pd.AddUser("PMARYANN", "Maryann", "maryann@example.com")
	pd.AddUser("PANN0001", "Ann", "ann@example.com")
	pd.AddUser("PBOB0001", "Bob", "bob@example.com")
	pd.PutOnCall("PJOANN1", "PSCHED1")
	pd.PutOnCall("PANN0001", "POTHER1") // another schedule
	pd.PutOnCall("PANN0001", "PSCHED1")
	c := &clock{now: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	var waits []time.Duration
	src := oncall.NewPagerDuty(pagerdutytest.Token, []string{"PSCHED1"}, oncall.Options{Endpoint: pd.URL, Clock: c,
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
	return pd, src, c, &waits
}

func TestOnCall(t *testing.T) {
	pd, src, _, _ := rig(t)
	ctx := context.Background()
	for _, tt := range []struct {
		email string
		want  bool
	}{
		{"Ann@Example.com", true},     // found on the second page of users
		{"bob@example.com", false},    // known, not on call
		{"nobody@example.com", false}, // unknown to PagerDuty
	} {
		got, err := src.OnCall(ctx, tt.email)
		if err != nil || got != tt.want {
			t.Errorf("OnCall(%s) = %v, %v; want %v", tt.email, got, err, tt.want)
		}
	}
	calls := strings.Join(pd.Calls(), "\n")
	for _, want := range []string{"/users?limit=100&offset=2&query=ann%40example.com",
		"/oncalls?limit=100&schedule_ids%5B%5D=PSCHED1&user_ids%5B%5D=PANN0001"} {
		if !strings.Contains(calls, want) {
			t.Errorf("calls lack %s:\n%s", want, calls)
		}
	}
}

func TestOnCallIsCachedForAMinute(t *testing.T) {
	pd, src, c, _ := rig(t)
	ctx := context.Background()
	ask := func() {
		t.Helper()
		if on, err := src.OnCall(ctx, "ann@example.com"); err != nil || !on {
			t.Fatalf("OnCall = %v, %v", on, err)
		}
	}
	ask()
	n := len(pd.Calls())
	c.Advance(59 * time.Second)
	ask()
	if got := len(pd.Calls()); got != n {
		t.Errorf("%d calls within the minute, want none after the first answer", got-n)
	}
	c.Advance(2 * time.Second)
	ask()
	if got := len(pd.Calls()); got == n {
		t.Error("no call after the minute: the answer was cached for too long")
	}
}

func TestOnCallWaitsOutRateLimits(t *testing.T) {
	pd, src, _, waits := rig(t)
	pd.RateLimitNext("7")
	pd.RateLimitNext("600")
	on, err := src.OnCall(context.Background(), "ann@example.com")
	if err != nil || !on {
		t.Fatalf("OnCall after two 429s = %v, %v; want on call", on, err)
	}
	if want := []time.Duration{7 * time.Second, oncall.MaxRetryAfter}; len(*waits) != 2 || (*waits)[0] != want[0] || (*waits)[1] != want[1] {
		t.Errorf("waited %v, want %v (Retry-After, bounded)", *waits, want)
	}
}

func TestOnCallFailures(t *testing.T) {
	for name, setup := range map[string]func(*pagerdutytest.Server){
		"rate limited for good": func(pd *pagerdutytest.Server) {
			for range oncall.MaxRetries + 1 {
				pd.RateLimitNext("1")
			}
		},
		"server error": func(pd *pagerdutytest.Server) { pd.FailNext(http.StatusInternalServerError) },
	} {
		t.Run(name, func(t *testing.T) {
			pd, src, _, _ := rig(t)
			setup(pd)
			if on, err := src.OnCall(context.Background(), "ann@example.com"); err == nil || on {
				t.Fatalf("OnCall = %v, %v; want an error and not on call", on, err)
			}
			// A failure is not cached: the next lookup asks again.
			if on, err := src.OnCall(context.Background(), "ann@example.com"); err != nil || !on {
				t.Errorf("OnCall after the failure = %v, %v; want on call", on, err)
			}
		})
	}
	t.Run("wrong token", func(t *testing.T) {
		pd := pagerdutytest.NewServer(t)
		src := oncall.NewPagerDuty("not-the-token", []string{"PSCHED1"}, oncall.Options{Endpoint: pd.URL})
		if _, err := src.OnCall(context.Background(), "ann@example.com"); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("OnCall with a wrong token: %v, want PagerDuty's 401", err)
		}
	})
}

func TestSources(t *testing.T) {
	env := map[string]string{"PAGERDUTY_TOKEN": pagerdutytest.Token}
	s := &oncall.Sources{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	cfg := &latch.OnCallConfig{Provider: "pagerduty", ScheduleIDs: []string{"PSCHED1"}, TokenEnv: "PAGERDUTY_TOKEN"}
	if src, err := s.For(&latch.Flow{Name: "none"}); src != nil || err != nil {
		t.Errorf("For(a flow without oncall) = %v, %v; want nil, nil", src, err)
	}
	a, err := s.For(&latch.Flow{Name: "f", OnCall: cfg})
	if err != nil || a == nil {
		t.Fatalf("For = %v, %v", a, err)
	}
	if b, _ := s.For(&latch.Flow{Name: "f", OnCall: cfg}); b != a {
		t.Error("For built a second source for the same flow: its cache would be lost")
	}
	missing := &latch.Flow{Name: "g", OnCall: &latch.OnCallConfig{Provider: "pagerduty", ScheduleIDs: []string{"P1"}, TokenEnv: "PD_UNSET"}}
	if err := s.Check([]*latch.Flow{missing}); err == nil || !strings.Contains(err.Error(), "PD_UNSET") {
		t.Errorf("Check = %v, want the unset variable named", err)
	}
}
