package sinks_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchhq/latch/pkg/audit/sinks"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string // destination names
		wantErr string
	}{
		{"none", nil, "", ""},
		{"stdout", map[string]string{"LATCH_AUDIT_STDOUT": "true"}, "stdout", ""},
		{"datadog EU with tags", map[string]string{"LATCH_AUDIT_DATADOG_SITE": "EU1", "DD_API_KEY": "k", "LATCH_AUDIT_DATADOG_TAGS": "env:prod,team:sec"}, "datadog", ""},
		{"datadog without a key", map[string]string{"LATCH_AUDIT_DATADOG_SITE": "EU1"}, "", "API key"},
		{"datadog with a bad tag", map[string]string{"LATCH_AUDIT_DATADOG_SITE": "US1", "DD_API_KEY": "k", "LATCH_AUDIT_DATADOG_TAGS": "Env:Prod"}, "", "Datadog"},
		{"firehose", map[string]string{"LATCH_AUDIT_FIREHOSE_STREAM": "latch-audit", "AWS_REGION": "eu-west-1",
			"LATCH_AUDIT_FIREHOSE_ENDPOINT": "http://127.0.0.1:1"}, "firehose", ""},
		{"http", map[string]string{"LATCH_AUDIT_HTTP_URL": "https://audit.example.com/in", "LATCH_AUDIT_HTTP_SECRET": "s"}, "http", ""},
		{"http without a secret", map[string]string{"LATCH_AUDIT_HTTP_URL": "https://audit.example.com/in"}, "", "LATCH_AUDIT_HTTP_SECRET"},
		{"several", map[string]string{"LATCH_AUDIT_STDOUT": "1", "LATCH_AUDIT_HTTP_URL": "https://a.example.com", "LATCH_AUDIT_HTTP_SECRET": "s"}, "stdout,http", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", tt.env["AWS_REGION"])
			got, err := sinks.FromEnv(context.Background(), func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if names := sinks.Names(got); names != tt.want {
				t.Errorf("destinations = %q, want %q", names, tt.want)
			}
		})
	}
}
