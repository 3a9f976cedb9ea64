package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

// domain returns the domain name created at(n).
func domain(name string, n int) latch.Domain { return latch.Domain{Name: name, CreatedAt: at(n)} }

func putDomain(tb testing.TB, s latch.Store, d latch.Domain) {
	tb.Helper()
	if err := s.PutDomain(tb.Context(), d); err != nil {
		tb.Fatalf("PutDomain(%s): %v", d.Name, err)
	}
}

func listDomains(tb testing.TB, s latch.Store) []latch.Domain {
	tb.Helper()
	ds, err := s.ListDomains(tb.Context())
	if err != nil {
		tb.Fatalf("ListDomains: %v", err)
	}
	return ds
}

func testDomains(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("list is ordered by name", func(t *testing.T) {
		s := newStore(t)
		if got := listDomains(t, s); len(got) != 0 {
			t.Fatalf("ListDomains of an empty store = %v, want none", got)
		}
		for i, name := range []string{"example.org", "corp.example.com", "example.com", "example.co"} {
			putDomain(t, s, domain(name, i))
		}
		want := []latch.Domain{domain("corp.example.com", 1), domain("example.co", 3), domain("example.com", 2), domain("example.org", 0)}
		if diff := cmp.Diff(want, listDomains(t, s), opts); diff != "" {
			t.Errorf("ListDomains (-want +got):\n%s", diff)
		}
	})

	t.Run("round trip keeps every field", func(t *testing.T) {
		s := newStore(t)
		d := latch.Domain{Name: "example.com", CreatedAt: at(5).Add(13 * time.Nanosecond).In(zone)}
		putDomain(t, s, d)
		got := listDomains(t, s)
		if diff := cmp.Diff([]latch.Domain{d}, got, opts); diff != "" {
			t.Fatalf("ListDomains (-want +got):\n%s", diff)
		}
		if got[0].CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt read back in %v, want UTC", got[0].CreatedAt.Location())
		}
	})

	t.Run("adding an existing domain changes nothing", func(t *testing.T) {
		s := newStore(t)
		first := domain("example.com", 1)
		putDomain(t, s, first)
		putDomain(t, s, domain("example.com", 2))
		putDomain(t, s, domain("example.com", 0))
		if diff := cmp.Diff([]latch.Domain{first}, listDomains(t, s), opts); diff != "" {
			t.Errorf("ListDomains (-want +got):\n%s", diff)
		}
	})

	t.Run("delete removes the domain", func(t *testing.T) {
		s := newStore(t)
		putDomain(t, s, domain("example.com", 0))
		putDomain(t, s, domain("example.org", 1))
		if err := s.DeleteDomain(t.Context(), "example.com"); err != nil {
			t.Fatalf("DeleteDomain: %v", err)
		}
		if diff := cmp.Diff([]latch.Domain{domain("example.org", 1)}, listDomains(t, s), opts); diff != "" {
			t.Errorf("ListDomains after DeleteDomain (-want +got):\n%s", diff)
		}
		wantNotFound(t, "a second DeleteDomain", s.DeleteDomain(t.Context(), "example.com"))
	})

	t.Run("delete of a missing domain returns ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		putDomain(t, s, domain("example.com", 0))
		for _, name := range []string{"example.org", "corp.example.com", ""} {
			wantNotFound(t, "DeleteDomain("+name+")", s.DeleteDomain(t.Context(), name))
		}
		if got := listDomains(t, s); len(got) != 1 {
			t.Errorf("ListDomains = %v, want example.com only", got)
		}
	})

	t.Run("put without a name is invalid", func(t *testing.T) {
		s := newStore(t)
		wantInvalid(t, "PutDomain", s.PutDomain(t.Context(), latch.Domain{CreatedAt: at(0)}))
		if got := listDomains(t, s); len(got) != 0 {
			t.Errorf("ListDomains after an invalid put = %v, want none", got)
		}
	})
}
