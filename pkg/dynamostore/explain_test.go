package dynamostore

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

func TestExplainMapsCancellationReasons(t *testing.T) {
	canceled := func(codes ...string) error {
		e := &types.TransactionCanceledException{Message: aws.String("Transaction cancelled")}
		for _, c := range codes {
			e.CancellationReasons = append(e.CancellationReasons, types.CancellationReason{Code: aws.String(c)})
		}
		return e
	}
	other := errors.New("connection reset")
	tests := []struct {
		name  string
		dedup int
		give  error
		want  error
	}{
		{"dedup marker exists", 0, canceled("ConditionalCheckFailed", "None", "None"), latch.ErrDuplicate},
		{"dedup marker exists and a version is stale", 0, canceled("ConditionalCheckFailed", "ConditionalCheckFailed"), latch.ErrDuplicate},
		{"stale version", 0, canceled("None", "ConditionalCheckFailed"), latch.ErrConflict},
		{"stale version without a dedup key", -1, canceled("ConditionalCheckFailed"), latch.ErrConflict},
		{"concurrent transaction", 0, canceled("None", "TransactionConflict"), latch.ErrConflict},
		{"validation error", 0, canceled("None", "ValidationError"), &types.TransactionCanceledException{}},
		{"not a cancellation", 0, other, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := &transaction{dedup: tt.dedup, what: []string{"dedup marker", "request r1", "grant g1"}}
			got := tx.explain(tt.give)
			if tce := (*types.TransactionCanceledException)(nil); errors.As(tt.want, &tce) {
				if !errors.As(got, &tce) || errors.Is(got, latch.ErrConflict) {
					t.Errorf("explain = %v, want the cancellation itself", got)
				}
				return
			}
			if !errors.Is(got, tt.want) {
				t.Errorf("explain = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCreatedSKSortsByTime(t *testing.T) {
	// Across a year, a second, a nanosecond and a time zone.
	times := []string{"2025-12-31T23:59:59.999999999Z", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000000001Z",
		"2026-01-01T05:00:01+05:00", "2026-01-01T00:00:02Z"}
	var prev string
	for _, s := range times {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		sk := createdSK(tm, "id")
		if sk <= prev {
			t.Errorf("createdSK(%s) = %q sorts before %q", s, sk, prev)
		}
		prev = sk
	}
}

func TestShardsAreInRange(t *testing.T) {
	for _, id := range []string{"", "a", "create/r1/0", "approve-7/3", "ann@example.com"} {
		if n := outboxShard(id); n < 0 || n >= outboxShards {
			t.Errorf("outboxShard(%q) = %d", id, n)
		}
		if n := userShard(id); n < 0 || n >= userShards {
			t.Errorf("userShard(%q) = %d", id, n)
		}
		if n := identityShard(id); n < 0 || n >= identityShards {
			t.Errorf("identityShard(%q) = %d", id, n)
		}
		if n := domainShard(id); n < 0 || n >= domainShards {
			t.Errorf("domainShard(%q) = %d", id, n)
		}
		if n := tokenShard(id); n < 0 || n >= tokenShards {
			t.Errorf("tokenShard(%q) = %d", id, n)
		}
	}
}

func TestAdminAuditPKsCoverEachUTCMonthOfTheRange(t *testing.T) {
	date := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name     string
		from, to string
		want     []string
	}{
		{"within a month", "2026-11-02T09:00:00Z", "2026-11-03T00:00:00Z", []string{"AUDITLOG#2026-11"}},
		{"across a year", "2026-12-31T23:00:00Z", "2027-01-01T01:00:00Z", []string{"AUDITLOG#2026-12", "AUDITLOG#2027-01"}},
		{"to at a month's start leaves that month out", "2026-10-15T00:00:00Z", "2026-11-01T00:00:00Z", []string{"AUDITLOG#2026-10"}},
		{"times in another zone count in UTC", "2026-11-01T03:00:00+05:00", "2026-11-01T06:00:00+05:00", []string{"AUDITLOG#2026-10", "AUDITLOG#2026-11"}},
		{"empty range", "2026-11-02T09:00:00Z", "2026-11-02T09:00:00Z", nil},
		{"reversed range", "2026-11-15T00:00:00Z", "2026-11-10T00:00:00Z", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := adminAuditPKs(date(tt.from), date(tt.to))
			if !slices.Equal(got, tt.want) {
				t.Errorf("adminAuditPKs(%s, %s) = %q, want %q", tt.from, tt.to, got, tt.want)
			}
		})
	}
}
