package main

import (
	"testing"
	"time"
)

func TestStartFlag(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		give, want string
		wantErr    bool
	}{
		{give: "", want: ""},
		{give: "2h", want: "2026-11-25T11:30:00Z"},
		{give: "1d", want: "2026-11-26T09:30:00Z"},
		{give: "2026-11-25T22:00:00Z", want: "2026-11-25T22:00:00Z"},
		{give: "2026-11-25T23:00:00+01:00", want: "2026-11-25T23:00:00+01:00"},
		{give: "tomorrow", wantErr: true},
		{give: "2026-11-25 22:00", wantErr: true},
		{give: "-2h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := startFlag(tt.give, now)
			if (err != nil) != tt.wantErr {
				t.Fatalf("startFlag(%q) error %v, want error %v", tt.give, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("startFlag(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}
