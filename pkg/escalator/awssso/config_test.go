package awssso_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/escalator/awssso"
	"github.com/latchhq/latch/pkg/latch"
)

func TestValidateConfig(t *testing.T) {
	ps := map[string]any{"permission_set_arn": psARN, "account_id": account}
	tests := []struct {
		name    string
		give    map[string]any
		targets []map[string]any
		wantErr []string
	}{
		{name: "assignment and group targets", give: config(nil), targets: []map[string]any{ps, {"group_id": groupID}}},
		{name: "every setting", give: config(map[string]any{"end_sessions": true, "region": "eu-west-1",
			"role_arn": "arn:aws:iam::210987654321:role/latch-sso", "external_id": "latch-prod"}), targets: []map[string]any{ps}},
		{name: "required settings missing", give: map[string]any{}, wantErr: []string{"instance_arn is required", "identity_store_id is required"}},
		{name: "bad shapes", give: map[string]any{"instance_arn": "arn:aws:sso:::instance/x", "identity_store_id": 7, "end_sessions": "yes", "region": "Mars"},
			wantErr: []string{`instance_arn "arn:aws:sso:::instance/x" is not`, "identity_store_id 7 is not", "end_sessions must be true or false", `region "Mars"`}},
		{name: "unknown setting", give: config(map[string]any{"instance": "x"}), wantErr: []string{`unknown setting "instance"`}},
		{name: "unquoted account id", give: config(nil), targets: []map[string]any{{"permission_set_arn": psARN, "account_id": 123456789012}},
			wantErr: []string{"account_id must be a quoted string"}},
		{name: "account without permission set", give: config(nil), targets: []map[string]any{{"account_id": account}},
			wantErr: []string{"needs permission_set_arn and account_id"}},
		{name: "both kinds", give: config(nil), targets: []map[string]any{{"permission_set_arn": psARN, "account_id": account, "group_id": groupID}},
			wantErr: []string{"not both"}},
		{name: "bad group id", give: config(nil), targets: []map[string]any{{"group_id": "admins"}}, wantErr: []string{`group_id "admins" is not`}},
		{name: "unknown target setting", give: config(nil), targets: []map[string]any{{"group_id": groupID, "role": "x"}}, wantErr: []string{`unknown setting "role"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var targets []latch.Target
			for i, s := range tt.targets {
				targets = append(targets, latch.Target{ID: string(rune('a' + i)), Settings: s})
			}
			err := awssso.ValidateConfig(tt.give, targets)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestNewRefusesABadConfig(t *testing.T) {
	_, err := awssso.New(context.Background(), map[string]any{"instance_arn": instanceARN})
	if err == nil || !latch.IsPermanent(err) || !strings.Contains(err.Error(), "identity_store_id is required") {
		t.Fatalf("err = %v", err)
	}
}
