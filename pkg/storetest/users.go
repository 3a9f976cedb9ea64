package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

func newUser(email string) latch.User {
	return latch.User{
		ID:        "U-" + email,
		Email:     email,
		Name:      "Someone",
		Role:      latch.RoleMember,
		Kind:      latch.KindPerson,
		SlackIDs:  map[string]string{"T01": "U01", "T02": "U99"},
		CreatedAt: at(0).Add(3 * time.Nanosecond).In(zone),
	}
}

func putUser(tb testing.TB, s latch.Store, u latch.User) {
	tb.Helper()
	if err := s.PutUser(tb.Context(), u); err != nil {
		tb.Fatalf("PutUser(%s at version %d): %v", u.Email, u.Version, err)
	}
}

func getUser(tb testing.TB, s latch.Store, email string) latch.User {
	tb.Helper()
	u, err := s.GetUser(tb.Context(), email)
	if err != nil {
		tb.Fatalf("GetUser(%q): %v", email, err)
	}
	return u
}

func testUsers(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("get missing user returns ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetUser(t.Context(), "nobody@example.com")
		wantNotFound(t, "GetUser", err)
	})

	t.Run("new user reads back at version 1", func(t *testing.T) {
		s := newStore(t)
		u := newUser("ann@example.com")
		putUser(t, s, u)
		got := getUser(t, s, u.Email)
		if diff := cmp.Diff(written(u), got, opts); diff != "" {
			t.Errorf("GetUser (-want +got):\n%s", diff)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt read back in %v, want UTC", got.CreatedAt.Location())
		}
	})

	t.Run("email is stored lower-case", func(t *testing.T) {
		s := newStore(t)
		u := newUser(" Ann@Example.COM")
		putUser(t, s, u)
		want := written(u)
		want.Email = "ann@example.com"
		if diff := cmp.Diff(want, getUser(t, s, "ann@example.com"), opts); diff != "" {
			t.Errorf("GetUser (-want +got):\n%s", diff)
		}
	})

	t.Run("updates bump the version", func(t *testing.T) {
		s := newStore(t)
		u := newUser("ann@example.com")
		putUser(t, s, u)
		u = getUser(t, s, u.Email)
		u.Role = latch.RoleAdmin
		putUser(t, s, u)
		got := getUser(t, s, u.Email)
		if diff := cmp.Diff(written(u), got, opts); diff != "" {
			t.Errorf("GetUser after update (-want +got):\n%s", diff)
		}
		if got.Version != 2 {
			t.Errorf("Version = %d, want 2", got.Version)
		}
	})

	t.Run("version conditions", func(t *testing.T) {
		tests := []struct {
			name    string
			version int64 // the version PutUser is given; the stored user is at version 2
			email   string
		}{
			{"create of an existing user", 0, "ann@example.com"},
			{"stale version", 1, "ann@example.com"},
			{"version ahead of the store", 3, "ann@example.com"},
			{"update of a missing user", 2, "bob@example.com"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				u := newUser("ann@example.com")
				putUser(t, s, u)
				u.Version = 1
				putUser(t, s, u)
				before := getUser(t, s, "ann@example.com")

				bad := newUser(tt.email)
				bad.Name, bad.Version = "Changed", tt.version
				wantErr(t, "PutUser", s.PutUser(t.Context(), bad), latch.ErrConflict)

				if diff := cmp.Diff(before, getUser(t, s, "ann@example.com"), opts); diff != "" {
					t.Errorf("a failed PutUser changed the user (-before +after):\n%s", diff)
				}
				if tt.email != "ann@example.com" {
					_, err := s.GetUser(t.Context(), tt.email)
					wantNotFound(t, "GetUser after a failed PutUser", err)
				}
			})
		}
	})

	t.Run("list is ordered by email", func(t *testing.T) {
		s := newStore(t)
		if got, err := s.ListUsers(t.Context()); err != nil || len(got) != 0 {
			t.Fatalf("ListUsers of an empty store = %v, %v; want none", got, err)
		}
		var want []latch.User
		for _, e := range []string{"cat@example.com", "ann@example.com", "dan@example.org", "bob@example.com", "ann@example.org"} {
			u := newUser(e)
			putUser(t, s, u)
		}
		for _, e := range []string{"ann@example.com", "ann@example.org", "bob@example.com", "cat@example.com", "dan@example.org"} {
			want = append(want, written(newUser(e)))
		}
		got, err := s.ListUsers(t.Context())
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if diff := cmp.Diff(want, got, opts); diff != "" {
			t.Errorf("ListUsers (-want +got):\n%s", diff)
		}
	})
}
