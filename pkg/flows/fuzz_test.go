package flows_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/flows"
)

// FuzzLoad feeds arbitrary bytes to the flow file parser. It must never
// panic, and must either return a flow or a *Problems whose every problem is
// one line in the file that was read.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "..", "flows", "*.yaml"))
	for _, path := range seeds {
		if src, err := os.ReadFile(path); err == nil {
			f.Add(src)
		}
	}
	for _, s := range []string{
		exampleFlow,
		"",
		"name: f\napproval:\n  approvers: [a@example.com]\n",
		"name: f\napproval: {rule: 'approver.email.endsWith(\"@x\")', quorum: 2, timeout: 1d}\n",
		"name: f\nfields:\n  - {name: duration, type: duration, min: 30m, max: 4h, allowed_values: [1h], default: 1h}\n",
		"name: f\nfields:\n  - {name: target_id, type: string, allowed_values: [a]}\nstrategy: {type: webhook, url: u, targets: [{id: a, settings: {x: [1, {y: z}]}}]}\n",
		"a: &x [*x]\n",
		"---\n---\n",
		"name: f\n\tapproval: x\n",
		"{name: f, approval: {approvers: [a@b]}, hooks: {on_request: 'http://h'}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		flow, err := flows.Parse("fuzz.yaml", src, opts)
		if err == nil {
			if flow == nil {
				t.Fatal("Parse() = nil, nil")
			}
			if flow.Name == "" || flow.Approval.Quorum < 1 {
				t.Fatalf("Parse() accepted a flow without a name or quorum: %+v", flow)
			}
			return
		}
		if flow != nil {
			t.Fatal("Parse() returned a flow with an error")
		}
		var ps *flows.Problems
		if !errors.As(err, &ps) || len(ps.List) == 0 {
			t.Fatalf("Parse() error %v (%T) is not a non-empty *Problems", err, err)
		}
		for _, p := range ps.List {
			if p.File != "fuzz.yaml" || p.Reason == "" || strings.ContainsAny(p.Reason, "\r\n") || p.Line < 0 {
				t.Fatalf("malformed problem %#v", p)
			}
		}
	})
}
