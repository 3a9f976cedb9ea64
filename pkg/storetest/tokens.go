package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

// newToken returns a token whose hash is derived from its id.
func newToken(id string, created time.Time) latch.Token {
	return latch.Token{
		ID:        id,
		Hash:      "hash-of-" + id,
		Label:     "ci deploys",
		Owner:     "deploy-bot@example.com",
		Scopes:    []string{"requests:create"},
		CreatedAt: created,
	}
}

func createToken(tb testing.TB, s latch.Store, tok latch.Token) {
	tb.Helper()
	if err := s.CreateToken(tb.Context(), tok); err != nil {
		tb.Fatalf("CreateToken(%s): %v", tok.ID, err)
	}
}

func getToken(tb testing.TB, s latch.Store, id string) latch.Token {
	tb.Helper()
	tok, err := s.GetToken(tb.Context(), id)
	if err != nil {
		tb.Fatalf("GetToken(%q): %v", id, err)
	}
	return tok
}

func tokenByHash(tb testing.TB, s latch.Store, hash string) latch.Token {
	tb.Helper()
	tok, err := s.TokenByHash(tb.Context(), hash)
	if err != nil {
		tb.Fatalf("TokenByHash(%q): %v", hash, err)
	}
	return tok
}

func listTokens(tb testing.TB, s latch.Store) []latch.Token {
	tb.Helper()
	toks, err := s.ListTokens(tb.Context())
	if err != nil {
		tb.Fatalf("ListTokens: %v", err)
	}
	return toks
}

func revoke(tb testing.TB, s latch.Store, id string, when time.Time) {
	tb.Helper()
	if err := s.RevokeToken(tb.Context(), id, when); err != nil {
		tb.Fatalf("RevokeToken(%q, %v): %v", id, when, err)
	}
}

func testTokens(t *testing.T, newStore func(t *testing.T) latch.Store) {
	t.Run("get missing token returns ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		createToken(t, s, newToken("t1", at(0)))
		_, err := s.GetToken(t.Context(), "t2")
		wantNotFound(t, "GetToken", err)
		_, err = s.TokenByHash(t.Context(), "hash-of-t2")
		wantNotFound(t, "TokenByHash", err)
		_, err = s.TokenByHash(t.Context(), "t1") // an ID is not a hash
		wantNotFound(t, "TokenByHash of an ID", err)
	})

	t.Run("round trip keeps every field", func(t *testing.T) {
		local := func(n int) time.Time { return at(n).Add(17 * time.Nanosecond).In(zone) }
		tests := []struct {
			name    string
			expires *time.Time
			scopes  []string
		}{
			{"without expiry", nil, []string{"requests:create", "requests:read"}},
			{"with expiry", ptr(local(60)), []string{"admin"}},
			{"without scopes", ptr(local(1)), nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				tok := latch.Token{
					ID:        "tok-1",
					Hash:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
					Label:     "deploys from CI",
					Owner:     "deploy-bot@example.com",
					Scopes:    tt.scopes,
					CreatedAt: local(0),
					ExpiresAt: tt.expires,
				}
				createToken(t, s, tok)
				for name, got := range map[string]latch.Token{
					"GetToken":    getToken(t, s, tok.ID),
					"TokenByHash": tokenByHash(t, s, tok.Hash),
				} {
					if diff := cmp.Diff(tok, got, opts); diff != "" {
						t.Errorf("%s (-want +got):\n%s", name, diff)
					}
					if got.CreatedAt.Location() != time.UTC || (got.ExpiresAt != nil && got.ExpiresAt.Location() != time.UTC) {
						t.Errorf("%s: times read back in %v and %v, want UTC", name, got.CreatedAt.Location(), got.ExpiresAt)
					}
				}
			})
		}
	})

	t.Run("create of an existing ID or hash returns ErrConflict", func(t *testing.T) {
		tests := []struct {
			name     string
			give     latch.Token
			freeID   bool // the given ID is not taken: no token may appear under it
			freeHash bool // the given hash is not taken: it may not find a token
		}{
			{"same ID and hash", newToken("t1", at(5)), false, false},
			{"same ID", latch.Token{ID: "t1", Hash: "other-hash", CreatedAt: at(5)}, false, true},
			{"same hash", latch.Token{ID: "t9", Hash: "hash-of-t1", CreatedAt: at(5)}, true, false},
			{"ID of one token, hash of another", latch.Token{ID: "t1", Hash: "hash-of-t2", CreatedAt: at(5)}, false, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				t1, t2 := newToken("t1", at(0)), newToken("t2", at(1))
				createToken(t, s, t1)
				createToken(t, s, t2)
				wantErr(t, "CreateToken", s.CreateToken(t.Context(), tt.give), latch.ErrConflict)

				if diff := cmp.Diff([]latch.Token{t1, t2}, listTokens(t, s), opts); diff != "" {
					t.Errorf("ListTokens after a failed CreateToken (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(t1, getToken(t, s, "t1"), opts); diff != "" {
					t.Errorf("GetToken(t1) after a failed CreateToken (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(t1, tokenByHash(t, s, t1.Hash), opts); diff != "" {
					t.Errorf("TokenByHash of t1's hash after a failed CreateToken (-want +got):\n%s", diff)
				}
				if tt.freeID {
					_, err := s.GetToken(t.Context(), tt.give.ID)
					wantNotFound(t, "GetToken of the failed token's ID", err)
				}
				if tt.freeHash {
					_, err := s.TokenByHash(t.Context(), tt.give.Hash)
					wantNotFound(t, "TokenByHash of the failed token's hash", err)
				}
			})
		}
	})

	t.Run("create without ID or hash is invalid", func(t *testing.T) {
		s := newStore(t)
		for _, tok := range []latch.Token{{ID: "t1", CreatedAt: at(0)}, {Hash: "h1", CreatedAt: at(0)}} {
			wantInvalid(t, "CreateToken(ID "+tok.ID+", hash "+tok.Hash+")", s.CreateToken(t.Context(), tok))
		}
		if got := listTokens(t, s); len(got) != 0 {
			t.Errorf("ListTokens after invalid creates = %v, want none", got)
		}
	})

	t.Run("list is ordered by creation time, then ID", func(t *testing.T) {
		s := newStore(t)
		if got := listTokens(t, s); len(got) != 0 {
			t.Fatalf("ListTokens of an empty store = %v, want none", got)
		}
		expired, revoked := newToken("t-expired", at(1)), newToken("t-revoked", at(2))
		expired.ExpiresAt = ptr(at(3))
		created := []latch.Token{
			newToken("t-b", at(2).In(zone)), // the same instant as t-revoked, another zone
			newToken("t-late", at(60)),
			revoked,
			newToken("t-a", at(2)),
			expired,
			newToken("t-first", at(0)),
			newToken("t-nano", at(0).Add(time.Nanosecond)),
		}
		for _, tok := range created {
			createToken(t, s, tok)
		}
		revoke(t, s, revoked.ID, at(4))
		revoked.RevokedAt = ptr(at(4))
		want := []latch.Token{created[5], created[6], expired, created[3], created[0], revoked, created[1]}
		if diff := cmp.Diff(want, listTokens(t, s), opts); diff != "" {
			t.Errorf("ListTokens (-want +got):\n%s", diff)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		tests := []struct {
			name    string
			revokes []time.Time // in order
			want    time.Time
		}{
			{"sets RevokedAt", []time.Time{at(10).Add(19 * time.Nanosecond).In(zone)}, at(10).Add(19 * time.Nanosecond)},
			{"a later revoke keeps the first", []time.Time{at(10), at(20)}, at(10)},
			{"the same time again changes nothing", []time.Time{at(10), at(10)}, at(10)},
			{"an earlier revoke moves it back", []time.Time{at(10), at(5)}, at(5)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				tok := newToken("t1", at(0))
				tok.ExpiresAt = ptr(at(100))
				createToken(t, s, tok)
				createToken(t, s, newToken("t2", at(1)))
				for _, when := range tt.revokes {
					revoke(t, s, tok.ID, when)
				}
				want := tok
				want.RevokedAt = &tt.want
				got := getToken(t, s, tok.ID)
				if diff := cmp.Diff(want, got, opts); diff != "" {
					t.Errorf("GetToken (-want +got):\n%s", diff)
				}
				if got.RevokedAt != nil && got.RevokedAt.Location() != time.UTC {
					t.Errorf("RevokedAt read back in %v, want UTC", got.RevokedAt.Location())
				}
				if diff := cmp.Diff(want, tokenByHash(t, s, tok.Hash), opts); diff != "" {
					t.Errorf("TokenByHash (-want +got):\n%s", diff)
				}
				if got := getToken(t, s, "t2"); got.RevokedAt != nil {
					t.Errorf("another token was revoked: %v", got.RevokedAt)
				}
			})
		}
	})

	t.Run("revoke of a missing token returns ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		createToken(t, s, newToken("t1", at(0)))
		wantNotFound(t, "RevokeToken", s.RevokeToken(t.Context(), "t2", at(1)))
		wantNotFound(t, "RevokeToken by hash", s.RevokeToken(t.Context(), "hash-of-t1", at(1)))
		if got := getToken(t, s, "t1"); got.RevokedAt != nil {
			t.Errorf("t1 was revoked: %v", got.RevokedAt)
		}
	})
}
