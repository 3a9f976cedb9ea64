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
// builds arm64), and both as ratios to hello's (each start paired with one of
// hello's just before it, under the same load). The
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
	hello := build(b, "testdata/hello")
	helloSt, err := os.Stat(hello)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"testdata/hello", "api", "slack", "approvals", "granttasks", "escalator-webhook", "audit", "reconciler"} {
		b.Run(name, func(b *testing.B) {
			d := newDeployment(b)
			bin := build(b, name)
			st, err := os.Stat(bin)
			if err != nil {
				b.Fatal(err)
			}
			// firstAnswer starts bin and times it to its first answer; it
			// also returns the CPU time the function used to get there.
			firstAnswer := func(bin string, event any) (time.Duration, time.Duration) {
				began := time.Now()
				e := start(b, bin, d.env)
				out := e.invoke(b, event)
				took := time.Since(began)
				if !json.Valid(out) {
					b.Fatalf("answer %q", out)
				}
				cpu, err := functionCPU(e.pid)
				if err != nil {
					b.Fatal(err)
				}
				return took, cpu
			}
			// Each start is paired with one of hello just before it, so
			// that the ratio compares starts made under the same load.
			var total, helloTotal, cpu, helloCPU time.Duration
			for range b.N {
				b.StopTimer()
				event := events[name]()
				if name != "testdata/hello" {
					took, used := firstAnswer(hello, map[string]any{})
					helloTotal, helloCPU = helloTotal+took, helloCPU+used
				}
				b.StartTimer()
				took, used := firstAnswer(bin, event)
				total, cpu = total+took, cpu+used
			}
			mib := float64(st.Size()) / (1 << 20)
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/first-answer")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/first-answer")
			b.ReportMetric(mib, "MiB")
			if helloTotal > 0 {
				b.ReportMetric(float64(total)/float64(helloTotal), "x-hello-start")
				b.ReportMetric(float64(cpu)/float64(helloCPU), "x-hello-cpu")
				b.ReportMetric(float64(st.Size())/float64(helloSt.Size()), "x-hello-size")
			}
		})
	}
}
