package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

func newIdentity(email, service string) latch.Identity {
	return latch.Identity{
		Email:     email,
		Service:   service,
		ID:        service + ":" + email,
		Source:    latch.IdentityFromAdmin,
		UpdatedAt: at(2),
	}
}

// identities returns newIdentity of each "email service" pair.
func identities(pairs ...string) []latch.Identity {
	var out []latch.Identity
	for _, p := range pairs {
		email, service, _ := strings.Cut(p, " ")
		out = append(out, newIdentity(email, service))
	}
	return out
}

func putIdentity(tb testing.TB, s latch.Store, id latch.Identity) {
	tb.Helper()
	if err := s.PutIdentity(tb.Context(), id); err != nil {
		tb.Fatalf("PutIdentity(%s in %s): %v", id.Email, id.Service, err)
	}
}

func getIdentity(tb testing.TB, s latch.Store, email, service string) latch.Identity {
	tb.Helper()
	id, err := s.GetIdentity(tb.Context(), email, service)
	if err != nil {
		tb.Fatalf("GetIdentity(%q, %q): %v", email, service, err)
	}
	return id
}

func listIdentities(tb testing.TB, s latch.Store, email string) []latch.Identity {
	tb.Helper()
	ids, err := s.ListIdentities(tb.Context(), email)
	if err != nil {
		tb.Fatalf("ListIdentities(%q): %v", email, err)
	}
	return ids
}

func testIdentities(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("get missing identity returns ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		putIdentity(t, s, newIdentity("ann@example.com", "okta"))
		for _, k := range []struct{ email, service string }{
			{"ann@example.com", "aws_iam"}, // another service
			{"bob@example.com", "okta"},    // another user
		} {
			_, err := s.GetIdentity(t.Context(), k.email, k.service)
			wantNotFound(t, "GetIdentity("+k.email+", "+k.service+")", err)
		}
	})

	t.Run("round trip keeps every field", func(t *testing.T) {
		s := newStore(t)
		id := latch.Identity{
			Email:     "ann@example.com",
			Service:   "aws_iam",
			ID:        "arn:aws:iam::123456789012:user/ann",
			Source:    latch.IdentityFromHook,
			UpdatedAt: at(3).Add(11 * time.Nanosecond).In(zone),
		}
		putIdentity(t, s, id)
		got := getIdentity(t, s, id.Email, id.Service)
		if diff := cmp.Diff(id, got, opts); diff != "" {
			t.Errorf("GetIdentity (-want +got):\n%s", diff)
		}
		if got.UpdatedAt.Location() != time.UTC {
			t.Errorf("UpdatedAt read back in %v, want UTC", got.UpdatedAt.Location())
		}
	})

	t.Run("email is stored lower-case", func(t *testing.T) {
		s := newStore(t)
		id := newIdentity(" Ann@Example.COM", "okta")
		putIdentity(t, s, id)
		want := id
		want.Email = "ann@example.com"
		for _, email := range []string{"ann@example.com", "ANN@example.com"} {
			if diff := cmp.Diff(want, getIdentity(t, s, email, "okta"), opts); diff != "" {
				t.Errorf("GetIdentity(%q) (-want +got):\n%s", email, diff)
			}
			if diff := cmp.Diff([]latch.Identity{want}, listIdentities(t, s, email), opts); diff != "" {
				t.Errorf("ListIdentities(%q) (-want +got):\n%s", email, diff)
			}
		}
	})

	t.Run("put replaces the identity in the same service", func(t *testing.T) {
		s := newStore(t)
		putIdentity(t, s, newIdentity("ann@example.com", "okta"))
		id := newIdentity("ann@example.com", "okta")
		id.ID, id.Source, id.UpdatedAt = "00u-new", latch.IdentityFromLookup, at(9)
		putIdentity(t, s, id)
		if diff := cmp.Diff(id, getIdentity(t, s, id.Email, id.Service), opts); diff != "" {
			t.Errorf("GetIdentity (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]latch.Identity{id}, listIdentities(t, s, id.Email), opts); diff != "" {
			t.Errorf("ListIdentities (-want +got):\n%s", diff)
		}
	})

	t.Run("delete removes one identity", func(t *testing.T) {
		s := newStore(t)
		keep := []latch.Identity{newIdentity("ann@example.com", "aws_iam"), newIdentity("bob@example.com", "okta")}
		for _, id := range append(keep, newIdentity("ann@example.com", "okta")) {
			putIdentity(t, s, id)
		}
		if err := s.DeleteIdentity(t.Context(), "Ann@Example.com", "okta"); err != nil {
			t.Fatalf("DeleteIdentity: %v", err)
		}
		_, err := s.GetIdentity(t.Context(), "ann@example.com", "okta")
		wantNotFound(t, "GetIdentity of the deleted identity", err)
		if diff := cmp.Diff(keep, listIdentities(t, s, ""), opts); diff != "" {
			t.Errorf("ListIdentities after DeleteIdentity (-want +got):\n%s", diff)
		}
		wantNotFound(t, "a second DeleteIdentity", s.DeleteIdentity(t.Context(), "ann@example.com", "okta"))
	})

	t.Run("delete of a missing identity returns ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		putIdentity(t, s, newIdentity("ann@example.com", "okta"))
		tests := []struct {
			name           string
			email, service string
		}{
			{"another service", "ann@example.com", "aws_iam"},
			{"another user", "bob@example.com", "okta"},
			{"no email", "", "okta"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantNotFound(t, "DeleteIdentity", s.DeleteIdentity(t.Context(), tt.email, tt.service))
			})
		}
		getIdentity(t, s, "ann@example.com", "okta")
	})

	t.Run("list", func(t *testing.T) {
		s := newStore(t)
		if got := listIdentities(t, s, ""); len(got) != 0 {
			t.Fatalf("ListIdentities of an empty store = %v, want none", got)
		}
		// Put out of order; "ann@example.co" sorts before "ann@example.com"
		// and is a prefix of it.
		for _, id := range identities("cat@example.com okta", "ann@example.com okta", "ann@example.com aws_iam",
			"bob@example.com github", "ann@example.co okta", "ann@example.com github", "cat@example.com aws_sso") {
			putIdentity(t, s, id)
		}
		tests := []struct {
			name  string
			email string
			want  []latch.Identity
		}{
			{"one user's, by service", "ann@example.com",
				identities("ann@example.com aws_iam", "ann@example.com github", "ann@example.com okta")},
			{"a user whose email is a prefix of another's", "ann@example.co", identities("ann@example.co okta")},
			{"a user without identities", "dan@example.com", nil},
			{"everyone's, by email then service", "", identities("ann@example.co okta",
				"ann@example.com aws_iam", "ann@example.com github", "ann@example.com okta",
				"bob@example.com github", "cat@example.com aws_sso", "cat@example.com okta")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if diff := cmp.Diff(tt.want, listIdentities(t, s, tt.email), opts); diff != "" {
					t.Errorf("ListIdentities(%q) (-want +got):\n%s", tt.email, diff)
				}
			})
		}
	})

	t.Run("put without email or service is invalid", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []latch.Identity{newIdentity("", "okta"), newIdentity(" ", "okta"), newIdentity("ann@example.com", "")} {
			wantInvalid(t, "PutIdentity("+id.Email+", "+id.Service+")", s.PutIdentity(t.Context(), id))
		}
		if got := listIdentities(t, s, ""); len(got) != 0 {
			t.Errorf("ListIdentities after invalid puts = %v, want none", got)
		}
	})
}
