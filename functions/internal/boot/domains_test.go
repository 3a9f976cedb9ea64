package boot

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/latch"
)

// countingStore counts the domain reads and writes that reach the store.
type countingStore struct {
	latch.Store
	lists, puts atomic.Int64
}

func (c *countingStore) ListDomains(ctx context.Context) ([]latch.Domain, error) {
	c.lists.Add(1)
	return c.Store.ListDomains(ctx)
}

func (c *countingStore) PutDomain(ctx context.Context, d latch.Domain) error {
	c.puts.Add(1)
	return c.Store.PutDomain(ctx, d)
}

func domainStore(t *testing.T) *countingStore {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return &countingStore{Store: store}
}

func domainEnv(t *testing.T, domains string) *Env {
	t.Helper()
	e, err := NewEnv(slog.New(slog.DiscardHandler), aws.Config{Region: "us-east-1"}, func(k string) string {
		if k == "LATCH_DOMAINS" {
			return domains
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func names(ds []latch.Domain) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// A function's start reads no domain (it was a DynamoDB call before the
// first answer of api and reconciler): LATCH_DOMAINS seeds an empty store
// on the first read, and new people's roles follow them.
func TestDomainsAreSeededOnFirstUseNotAtStart(t *testing.T) {
	store := domainStore(t)
	dir, err := domainEnv(t, "Example.com, corp.example.org").Directory(t.Context(), store)
	if err != nil {
		t.Fatal(err)
	}
	if n, m := store.lists.Load(), store.puts.Load(); n != 0 || m != 0 {
		t.Fatalf("the start read domains %d times and wrote %d, want no call", n, m)
	}
	for email, want := range map[string]latch.Role{"ada@example.com": latch.RoleMember, "bo@corp.example.org": latch.RoleMember, "eve@other.net": latch.RoleGuest} {
		if got, err := dir.RoleFor(t.Context(), email); err != nil || got != want {
			t.Errorf("RoleFor(%s) = %q, %v; want %q", email, got, err, want)
		}
	}
	have, err := store.Store.ListDomains(t.Context())
	if err != nil || !slices.Equal(names(have), []string{"corp.example.org", "example.com"}) {
		t.Errorf("the store holds %v, %v; want the seeded domains", names(have), err)
	}
	// Once seeded, an admin's removal stands in this function's life.
	if err := dir.RemoveDomain(t.Context(), "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := dir.RemoveDomain(t.Context(), "corp.example.org"); err != nil {
		t.Fatal(err)
	}
	if ds, err := dir.Domains(t.Context()); err != nil || len(ds) != 0 {
		t.Errorf("after removing both: %v, %v; want none", names(ds), err)
	}
	if got := store.puts.Load(); got != 2 {
		t.Errorf("%d domains written, want the 2 seeded once", got)
	}
}

// A deployment that has domains keeps them: LATCH_DOMAINS seeds only an
// empty one.
func TestDomainsSeedOnlyAnEmptyStore(t *testing.T) {
	store := domainStore(t)
	if err := store.Store.PutDomain(t.Context(), latch.Domain{Name: "corp.example.org"}); err != nil {
		t.Fatal(err)
	}
	dir, err := domainEnv(t, "example.com").Directory(t.Context(), store)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dir.RoleFor(t.Context(), "ada@example.com"); err != nil || got != latch.RoleGuest {
		t.Errorf("RoleFor(ada@example.com) = %q, %v; want guest (example.com is not seeded over corp.example.org)", got, err)
	}
	if got := store.puts.Load(); got != 0 {
		t.Errorf("%d domains written, want none", got)
	}
}

// A malformed LATCH_DOMAINS still stops the start, without a call.
func TestBadDomainStopsTheStart(t *testing.T) {
	store := domainStore(t)
	if _, err := domainEnv(t, "example.com, not a domain").Directory(t.Context(), store); err == nil {
		t.Fatal("a bad LATCH_DOMAINS was accepted")
	}
	if n := store.lists.Load(); n != 0 {
		t.Errorf("%d domain reads, want none", n)
	}
}

// A function that sets no strategy registry (all but the escalators and the
// reconciler) builds no escalator, and says why.
func TestEscalatorsNeedTheRegistry(t *testing.T) {
	e := domainEnv(t, "")
	if _, err := Escalator(t.Context(), e, "webhook"); err == nil || !strings.Contains(err.Error(), "Env.Strategies") {
		t.Errorf("Escalator without a registry: %v, want an error naming Env.Strategies", err)
	}
	forFlow, err := Escalators(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := forFlow(&latch.Flow{Name: "f", Strategy: &latch.Strategy{Type: "webhook"}}); err == nil || !strings.Contains(err.Error(), "Env.Strategies") {
		t.Errorf("an escalator without a registry: %v, want an error naming Env.Strategies", err)
	}
}
