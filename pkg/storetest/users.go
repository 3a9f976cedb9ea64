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
		UpdatedAt: at(1).Add(7 * time.Nanosecond).In(zone),
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

	t.Run("a bot's rules read back, and a change of them is kept", func(t *testing.T) {
		s := newStore(t)
		u := newUser("ci@bots.invalid")
		u.Kind, u.SlackIDs = latch.KindBot, nil
		u.MayRequestFor = `person.email.endsWith("@example.com") && person.role != "guest"`
		putUser(t, s, u)
		got := getUser(t, s, u.Email)
		if diff := cmp.Diff(written(u), got, opts); diff != "" {
			t.Errorf("GetUser (-want +got):\n%s", diff)
		}
		got.MayRequestFor, got.MayDecideAs = "", `person.role == "admin"`
		putUser(t, s, got)
		again := getUser(t, s, u.Email)
		if again.MayRequestFor != "" || again.MayDecideAs != `person.role == "admin"` || again.Version != 2 {
			t.Errorf("after the change: may_request_for %q, may_decide_as %q, version %d; want \"\", the new rule, 2",
				again.MayRequestFor, again.MayDecideAs, again.Version)
		}
	})

	t.Run("new user reads back at version 1", func(t *testing.T) {
		s := newStore(t)
		u := newUser("ann@example.com")
		putUser(t, s, u)
		got := getUser(t, s, u.Email)
		if diff := cmp.Diff(written(u), got, opts); diff != "" {
			t.Errorf("GetUser (-want +got):\n%s", diff)
		}
		if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt and UpdatedAt read back in %v and %v, want UTC", got.CreatedAt.Location(), got.UpdatedAt.Location())
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

func testDeleteUser(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("delete removes the user and only their identities", func(t *testing.T) {
		s := newStore(t)
		ann, bob := newUser("ann@example.com"), newUser("bob@example.com")
		putUser(t, s, ann)
		putUser(t, s, bob)
		for _, id := range []latch.Identity{
			newIdentity("ann@example.com", "aws_iam"), newIdentity("ann@example.com", "okta"),
			newIdentity("bob@example.com", "aws_iam"),
		} {
			putIdentity(t, s, id)
		}
		if err := s.DeleteUser(t.Context(), "ann@example.com"); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}

		_, err := s.GetUser(t.Context(), "ann@example.com")
		wantNotFound(t, "GetUser of the deleted user", err)
		_, err = s.GetIdentity(t.Context(), "ann@example.com", "okta")
		wantNotFound(t, "GetIdentity of the deleted user", err)
		if got := listIdentities(t, s, "ann@example.com"); len(got) != 0 {
			t.Errorf("ListIdentities of the deleted user = %v, want none", got)
		}
		users, err := s.ListUsers(t.Context())
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if diff := cmp.Diff([]latch.User{written(bob)}, users, opts); diff != "" {
			t.Errorf("ListUsers (-want +got):\n%s", diff)
		}
		want := []latch.Identity{newIdentity("bob@example.com", "aws_iam")}
		if diff := cmp.Diff(want, listIdentities(t, s, ""), opts); diff != "" {
			t.Errorf("ListIdentities of everyone (-want +got):\n%s", diff)
		}
	})

	t.Run("delete compares the email normalized", func(t *testing.T) {
		s := newStore(t)
		putUser(t, s, newUser("ann@example.com"))
		putIdentity(t, s, newIdentity("ann@example.com", "okta"))
		if err := s.DeleteUser(t.Context(), " Ann@Example.COM"); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		_, err := s.GetUser(t.Context(), "ann@example.com")
		wantNotFound(t, "GetUser of the deleted user", err)
		_, err = s.GetIdentity(t.Context(), "ann@example.com", "okta")
		wantNotFound(t, "GetIdentity of the deleted user", err)
	})

	t.Run("delete of a missing user returns ErrNotFound and keeps identities", func(t *testing.T) {
		s := newStore(t)
		putUser(t, s, newUser("bob@example.com"))
		id := newIdentity("ann@example.com", "okta") // an identity of no user
		putIdentity(t, s, id)
		for _, email := range []string{"ann@example.com", ""} {
			wantNotFound(t, "DeleteUser("+email+")", s.DeleteUser(t.Context(), email))
		}
		if diff := cmp.Diff(id, getIdentity(t, s, id.Email, id.Service), opts); diff != "" {
			t.Errorf("GetIdentity after a failed DeleteUser (-want +got):\n%s", diff)
		}
		getUser(t, s, "bob@example.com")
	})

	t.Run("a deleted user can be created again", func(t *testing.T) {
		s := newStore(t)
		u := newUser("ann@example.com")
		putUser(t, s, u)
		if err := s.DeleteUser(t.Context(), u.Email); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		wantNotFound(t, "a second DeleteUser", s.DeleteUser(t.Context(), u.Email))
		u.Role = latch.RoleAdmin
		putUser(t, s, u)
		if diff := cmp.Diff(written(u), getUser(t, s, u.Email), opts); diff != "" {
			t.Errorf("GetUser of the user created again (-want +got):\n%s", diff)
		}
	})
}
