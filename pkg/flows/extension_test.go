package flows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
)

func TestParseExtension(t *testing.T) {
	const head = "name: f\napproval:\n  approvers: [a@example.com]\nstrategy: {type: aws_iam, targets: [{id: t}]}\n"
	tests := []struct {
		name    string
		give    string
		want    *latch.Extension
		wantErr string
	}{
		{name: "none: extending is refused", give: head},
		{name: "approvers decide every extension", give: head + "extension: {max_total: 8h, approval: required}\n",
			want: &latch.Extension{MaxTotal: 8 * time.Hour}},
		{name: "shorter extensions at once", give: head + "extension:\n  max_total: 1d\n  auto_within: 1h\n",
			want: &latch.Extension{MaxTotal: 24 * time.Hour, AutoWithin: time.Hour}},
		{name: "max_total missing", give: head + "extension:\n  approval: required\n",
			wantErr: "f.yaml:5: extension.max_total is required: the longest the access of one request may last in all, such as 8h"},
		{name: "max_total not a duration", give: head + "extension:\n  max_total: soon\n  approval: required\n",
			wantErr: `f.yaml:6: extension.max_total: "soon" is not a duration (write 30m, 4h or 1d)`},
		{name: "max_total zero", give: head + "extension:\n  max_total: 0\n  approval: required\n",
			wantErr: "f.yaml:6: extension.max_total must be positive; remove extension to refuse extending"},
		{name: "approval not required", give: head + "extension:\n  max_total: 8h\n  approval: optional\n",
			wantErr: `f.yaml:7: extension.approval "optional" is not known: write approval: required, or auto_within: 1h to grant shorter extensions at once`},
		{name: "both approval and auto_within", give: head + "extension:\n  max_total: 8h\n  approval: required\n  auto_within: 1h\n",
			wantErr: "f.yaml:8: extension: write either approval: required or auto_within, not both"},
		{name: "neither", give: head + "extension:\n  max_total: 8h\n",
			wantErr: "f.yaml:5: extension needs approval: required, or auto_within: 1h to grant extensions up to that at once"},
		{name: "auto_within negative", give: head + "extension:\n  max_total: 8h\n  auto_within: -1h\n",
			wantErr: "f.yaml:7: extension.auto_within must be positive; write approval: required to have approvers decide every extension"},
		{name: "unknown key", give: head + "extension:\n  max_total: 8h\n  auto_within: 1h\n  max_times: 2\n",
			wantErr: "f.yaml:8: unknown key \"max_times\" in extension; the keys are max_total, approval, auto_within"},
		{name: "not a mapping", give: head + "extension: 1h\n",
			wantErr: `f.yaml:5: extension must be a mapping (key: value), not "1h"`},
		{name: "approval-only flow", give: "name: f\napproval:\n  approvers: [a@example.com]\nextension: {max_total: 8h, approval: required}\n",
			wantErr: "f.yaml:4: extension applies only to flows with a strategy: an approval-only flow grants nothing to extend"},
		{name: "no scheduled end", give: head + "schedule_deescalation: false\nextension: {max_total: 8h, approval: required}\n",
			wantErr: "f.yaml:6: extension needs schedule_deescalation: without a scheduled end there is no end to move"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := flows.Parse("f.yaml", []byte(tt.give), opts)
			if tt.wantErr != "" {
				var ps *flows.Problems
				if !errors.As(err, &ps) {
					t.Fatalf("Parse() error = %v, want problems:\n%s", err, tt.wantErr)
				}
				if d := cmp.Diff(tt.wantErr, err.Error()); d != "" {
					t.Errorf("error (-want +got):\n%s", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(): %v", err)
			}
			if d := cmp.Diff(tt.want, got.Extension); d != "" {
				t.Errorf("extension (-want +got):\n%s", d)
			}
		})
	}
}
