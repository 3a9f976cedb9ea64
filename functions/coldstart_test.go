package functions_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/slackapp/slacktest"
)

// BenchmarkColdStart starts each function under the emulator and times
// process start to its first answer (the function's init included), beside
// hello, the smallest aws-lambda-go function built the same way. It also
// reports each bootstrap's size (built for this machine; `make lambdas`
// builds arm64), and both as ratios to hello's in the same run. The
// emulator's own REPORT figures are not real measurements, so the time is
// taken here, around the first invocation.
func BenchmarkColdStart(b *testing.B) {
	needRIE(b)
	body := []byte(`{"token":"legacy","challenge":"c","type":"url_verification"}`)
	events := map[string]func() any{
		"testdata/hello": func() any { return map[string]any{} },
		"api":            func() any { return apiEvent("GET", "/healthz", nil, nil) },
		"slack": func() any {
			ts, sig := slacktest.Sign([]byte(slackSecret), time.Now(), body)
			return apiEvent("POST", "/slack/events", map[string]string{"content-type": "application/json",
				"x-slack-request-timestamp": ts, "x-slack-signature": sig}, body)
		},
		"approvals":         func() any { return map[string]any{"Records": []any{}} },
		"granttasks":        func() any { return map[string]any{"grant_id": "grt_none", "action": "escalation_failed"} },
		"escalator-webhook": func() any { return map[string]any{"grant_id": "grt_none", "action": "deescalate"} },
		"audit":             func() any { return map[string]any{"Records": []any{}} },
		"reconciler":        func() any { return map[string]any{"detail-type": "Scheduled Event", "source": "aws.events"} },
	}
	// hello's figures of this run: the others are reported as ratios to
	// them too (x-hello-start, x-hello-size).
	var helloMS, helloMiB float64
	for _, name := range []string{"testdata/hello", "api", "slack", "approvals", "granttasks", "escalator-webhook", "audit", "reconciler"} {
		b.Run(name, func(b *testing.B) {
			d := newDeployment(b)
			bin := build(b, name)
			st, err := os.Stat(bin)
			if err != nil {
				b.Fatal(err)
			}
			var total time.Duration
			for range b.N {
				b.StopTimer()
				event := events[name]()
				b.StartTimer()
				began := time.Now()
				e := start(b, bin, d.env)
				out := e.invoke(b, event)
				total += time.Since(began)
				if !json.Valid(out) {
					b.Fatalf("answer %q", out)
				}
			}
			ms, mib := float64(total.Microseconds())/1000/float64(b.N), float64(st.Size())/(1<<20)
			b.ReportMetric(ms, "ms/first-answer")
			b.ReportMetric(mib, "MiB")
			if name == "testdata/hello" {
				helloMS, helloMiB = ms, mib
			} else if helloMS > 0 {
				b.ReportMetric(ms/helloMS, "x-hello-start")
				b.ReportMetric(mib/helloMiB, "x-hello-size")
			}
		})
	}
}
