package identity_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func newStore(t *testing.T) latch.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "latch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func clock() latch.Clock { return latch.ClockFunc(func() time.Time { return t0 }) }

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		give, want string
		wantErr    bool
	}{
		{give: "Example.COM", want: "example.com"},
		{give: " @example.com ", want: "example.com"},
		{give: "eng.example.com.", want: "eng.example.com"},
		{give: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{give: "localhost", wantErr: true},
		{give: "", wantErr: true},
		{give: "exa mple.com", wantErr: true},
		{give: "-bad.com", wantErr: true},
		{give: "a..com", wantErr: true},
		{give: "bob@example.com", wantErr: true},
	}
	for _, tt := range tests {
		got, err := identity.NormalizeDomain(tt.give)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q, error %v", tt.give, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestInDomains(t *testing.T) {
	tests := []struct {
		name    string
		email   string
		domains []string
		want    bool
	}{
		{"exact", "bob@example.com", []string{"example.com"}, true},
		{"case of the email", "Bob@EXAMPLE.com", []string{"example.com"}, true},
		{"case of the domain", "bob@example.com", []string{"Example.Com"}, true},
		{"subdomain", "bob@eng.example.com", []string{"example.com"}, true},
		{"deep subdomain", "bob@a.b.example.com", []string{"example.com"}, true},
		{"suffix that is not a subdomain", "bob@badexample.com", []string{"example.com"}, false},
		{"parent of a listed subdomain", "bob@example.com", []string{"eng.example.com"}, false},
		{"second of several domains", "bob@corp.example", []string{"example.com", "corp.example"}, true},
		{"none of several", "bob@other.example", []string{"example.com", "corp.example"}, false},
		{"no domains", "bob@example.com", nil, false},
		{"not an email", "example.com", []string{"example.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identity.InDomains(tt.email, tt.domains); got != tt.want {
				t.Errorf("InDomains(%q, %v) = %v, want %v", tt.email, tt.domains, got, tt.want)
			}
		})
	}
}

// A new person's role: member in a listed domain, guest otherwise, member
// for everyone when no domain is listed; removing a domain changes nobody
// who already joined, and an admin's exception sticks.
func TestRoleForNewPeople(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	dir := &identity.Directory{Store: st, Clock: clock()}
	role := func(email string) latch.Role {
		t.Helper()
		r, err := dir.RoleFor(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if got := role("anyone@anywhere.example"); got != latch.RoleMember {
		t.Errorf("with no domains: %s, want member", got)
	}
	for _, d := range []string{"Example.com", "corp.example"} {
		if _, err := dir.AddDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dir.AddDomain(ctx, "example.com"); err != nil {
		t.Errorf("adding a domain twice: %v, want no error", err)
	}
	for email, want := range map[string]latch.Role{
		"bob@example.com": latch.RoleMember, "bob@eng.example.com": latch.RoleMember, "bob@corp.example": latch.RoleMember,
		"mallory@other.example": latch.RoleGuest, "mallory@example.com.evil.example": latch.RoleGuest,
	} {
		if got := role(email); got != want {
			t.Errorf("RoleFor(%s) = %s, want %s", email, got, want)
		}
	}
	if _, err := dir.SetRole(ctx, "partner@other.example", latch.RoleMember); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.SetRole(ctx, "bob@example.com", latch.RoleMember); err != nil {
		t.Fatal(err)
	}
	if err := dir.RemoveDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := dir.RemoveDomain(ctx, "example.com"); latch.ErrorCodeOf(err) != "domain_not_found" {
		t.Errorf("removing a missing domain: %v, want domain_not_found", err)
	}
	for email, want := range map[string]latch.Role{"partner@other.example": latch.RoleMember, "bob@example.com": latch.RoleMember} {
		u, _, err := dir.User(ctx, email)
		if err != nil || u.Role != want {
			t.Errorf("%s after the domain was removed: %s, %v; want %s", email, u.Role, err, want)
		}
	}
	if got := role("new@example.com"); got != latch.RoleGuest {
		t.Errorf("a new person of a removed domain: %s, want guest", got)
	}
}

// fakeHook is a get_identity hook with a scripted answer that counts calls.
type fakeHook struct {
	mu    sync.Mutex
	calls int
	id    string
	err   error
}

func (h *fakeHook) GetIdentity(context.Context, *latch.Flow, latch.User) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	return h.id, h.err
}

// fakeEscalator is an escalator that can look people up by email.
type fakeEscalator struct {
	ids map[string]string
	err error
}

func (fakeEscalator) Grant(context.Context, latch.GrantSpec) error  { return nil }
func (fakeEscalator) Revoke(context.Context, latch.GrantSpec) error { return nil }
func (e fakeEscalator) LookupIdentity(_ context.Context, email string) (string, error) {
	if e.err != nil {
		return "", e.err
	}
	if id, ok := e.ids[email]; ok {
		return id, nil
	}
	return "", latch.ErrNotFound
}

// plainEscalator has no lookup.
type plainEscalator struct{}

func (plainEscalator) Grant(context.Context, latch.GrantSpec) error  { return nil }
func (plainEscalator) Revoke(context.Context, latch.GrantSpec) error { return nil }

type ruleFunc func(*latch.User) (string, error)

func (f ruleFunc) Eval(u *latch.User) (string, error) { return f(u) }

func TestResolveDiscoveryOrder(t *testing.T) {
	timeout := &latch.Error{Kind: latch.KindInternal, Code: "timeout", Message: "The hook at h.example did not answer within 10s."}
	local := ruleFunc(func(u *latch.User) (string, error) { return strings.Split(u.Email, "@")[0], nil })
	empty := ruleFunc(func(*latch.User) (string, error) { return "", latch.ErrEmptyIdentity })
	broken := ruleFunc(func(*latch.User) (string, error) { return "", errors.New("no such key: nickname") })
	lookup := fakeEscalator{ids: map[string]string{"bob@example.com": "00u-bob"}}

	tests := []struct {
		name       string
		stored     string // an identity stored before
		identity   latch.IdentityConfig
		hookURL    bool
		hook       *fakeHook
		esc        latch.Escalator
		want       string
		wantSource string
		wantCode   string // error code
		wantPerm   bool
		wantCalls  int // hook calls
	}{
		{name: "stored identity first", stored: "bob-admin", identity: latch.IdentityConfig{Rule: local, LookupByEmail: true},
			hookURL: true, hook: &fakeHook{id: "from-hook"}, esc: lookup, want: "bob-admin", wantCalls: 0},
		{name: "rule", identity: latch.IdentityConfig{Rule: local, LookupByEmail: true}, esc: lookup, want: "bob", wantSource: latch.IdentityFromRule},
		{name: "rule giving nothing falls to the lookup", identity: latch.IdentityConfig{Rule: empty, LookupByEmail: true}, esc: lookup,
			want: "00u-bob", wantSource: latch.IdentityFromLookup},
		{name: "rule that fails", identity: latch.IdentityConfig{Rule: broken, LookupByEmail: true}, esc: lookup,
			wantCode: identity.CodeRuleError, wantPerm: true},
		{name: "hook", identity: latch.IdentityConfig{LookupByEmail: true}, hookURL: true, hook: &fakeHook{id: " bob-vault "}, esc: lookup,
			want: "bob-vault", wantSource: latch.IdentityFromHook, wantCalls: 1},
		{name: "hook that returns nothing falls to the lookup", identity: latch.IdentityConfig{LookupByEmail: true}, hookURL: true,
			hook: &fakeHook{}, esc: lookup, want: "00u-bob", wantSource: latch.IdentityFromLookup, wantCalls: 1},
		{name: "hook that returns nothing and no lookup", identity: latch.IdentityConfig{LookupByEmail: false}, hookURL: true,
			hook: &fakeHook{}, esc: lookup, wantCode: identity.CodeNotFound, wantPerm: true, wantCalls: 1},
		{name: "hook that times out is retryable", identity: latch.IdentityConfig{LookupByEmail: true}, hookURL: true,
			hook: &fakeHook{err: timeout}, esc: lookup, wantCode: "timeout", wantPerm: false, wantCalls: 1},
		{name: "hook that fails for good", identity: latch.IdentityConfig{LookupByEmail: true}, hookURL: true,
			hook: &fakeHook{err: latch.Permanent(&latch.Error{Code: "rejected", Message: "403"})}, esc: lookup,
			wantCode: "rejected", wantPerm: true, wantCalls: 1},
		{name: "lookup", identity: latch.IdentityConfig{LookupByEmail: true}, esc: lookup, want: "00u-bob", wantSource: latch.IdentityFromLookup},
		{name: "lookup finds nobody", identity: latch.IdentityConfig{LookupByEmail: true}, esc: fakeEscalator{},
			wantCode: identity.CodeNotFound, wantPerm: true},
		{name: "lookup fails", identity: latch.IdentityConfig{LookupByEmail: true}, esc: fakeEscalator{err: errors.New("okta 503")},
			wantCode: "internal"},
		{name: "lookup turned off", identity: latch.IdentityConfig{LookupByEmail: false}, esc: lookup,
			wantCode: identity.CodeNotFound, wantPerm: true},
		{name: "strategy without a lookup", identity: latch.IdentityConfig{LookupByEmail: true}, esc: plainEscalator{},
			wantCode: identity.CodeNotFound, wantPerm: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			ctx := context.Background()
			if err := st.PutUser(ctx, latch.User{ID: "usr_bob", Email: "bob@example.com", Role: latch.RoleMember, Kind: latch.KindPerson}); err != nil {
				t.Fatal(err)
			}
			if tt.stored != "" {
				if err := st.PutIdentity(ctx, latch.Identity{Email: "bob@example.com", Service: "vault", ID: tt.stored, Source: latch.IdentityFromAdmin}); err != nil {
					t.Fatal(err)
				}
			}
			tt.identity.Service = "vault"
			f := &latch.Flow{Name: "prod", Identity: tt.identity, Strategy: &latch.Strategy{Type: "webhook"}}
			if tt.hookURL {
				f.Hooks.GetIdentity = "https://h.example/identity"
			}
			r := &identity.Resolver{Store: st, Clock: clock(),
				Escalator: func(*latch.Flow) (latch.Escalator, error) { return tt.esc, nil }}
			if tt.hook != nil {
				r.Hooks = tt.hook
			}
			got, err := r.Resolve(ctx, f, latch.UserRef{ID: "usr_bob", Email: "Bob@Example.com"})
			if tt.hook != nil && tt.hook.calls != tt.wantCalls {
				t.Errorf("hook called %d times, want %d", tt.hook.calls, tt.wantCalls)
			}
			if tt.wantCode != "" {
				if latch.ErrorCodeOf(err) != tt.wantCode || latch.IsPermanent(err) != tt.wantPerm {
					t.Fatalf("Resolve = %q, %v (permanent %v); want code %s, permanent %v", got, err, latch.IsPermanent(err), tt.wantCode, tt.wantPerm)
				}
				if _, gerr := st.GetIdentity(ctx, "bob@example.com", "vault"); tt.stored == "" && !errors.Is(gerr, latch.ErrNotFound) {
					t.Errorf("a failed discovery stored an identity: %v", gerr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, tt.want)
			}
			saved, err := st.GetIdentity(ctx, "bob@example.com", "vault")
			if err != nil || saved.ID != tt.want {
				t.Fatalf("stored identity = %+v, %v; want %q", saved, err, tt.want)
			}
			if tt.wantSource != "" && saved.Source != tt.wantSource {
				t.Errorf("stored source = %q, want %q", saved.Source, tt.wantSource)
			}
			// The next grant reuses it without asking the hook again.
			calls := 0
			if tt.hook != nil {
				calls = tt.hook.calls
			}
			if again, err := r.Resolve(ctx, f, latch.UserRef{Email: "bob@example.com"}); err != nil || again != tt.want {
				t.Errorf("second Resolve = %q, %v; want %q", again, err, tt.want)
			}
			if tt.hook != nil && tt.hook.calls != calls {
				t.Errorf("the second Resolve called the hook again")
			}
		})
	}
}

func TestNotFoundNamesTheFix(t *testing.T) {
	err := identity.NotFound("bob@example.com", "vault")
	if !strings.Contains(err.Message, "latch users set-identity bob@example.com vault ID") || err.Code != identity.CodeNotFound {
		t.Errorf("NotFound = %q (%s); want it to name the command", err.Message, err.Code)
	}
}

func TestImportExportRoundTrip(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	dir := &identity.Directory{Store: st, Clock: clock()}
	if _, err := dir.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	in := "email,role,kind,service,identity\n" +
		"Alice@Example.com,admin,person,aws_iam,alice\n" +
		"alice@example.com,,,okta,00u-alice\n" +
		"ci@example.com,member,bot,,\n" +
		"partner@other.example,,,github,partner-gh\n"
	res, err := dir.Import(ctx, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if res != (identity.ImportResult{Users: 3, Identities: 3}) {
		t.Errorf("Import = %+v, want 3 users and 3 identities", res)
	}
	var out bytes.Buffer
	if err := dir.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := "email,role,kind,service,identity\n" +
		"alice@example.com,admin,person,aws_iam,alice\n" +
		"alice@example.com,admin,person,okta,00u-alice\n" +
		"ci@example.com,member,bot,,\n" +
		"partner@other.example,guest,person,github,partner-gh\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("Export (-want +got):\n%s", diff)
	}
	// Importing the export into an empty store gives the same export.
	st2 := newStore(t)
	dir2 := &identity.Directory{Store: st2, Clock: clock()}
	if _, err := dir2.Import(ctx, strings.NewReader(out.String())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := dir2.Export(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(out.String(), again.String()); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
}

func TestImportRefusesBadFilesWhole(t *testing.T) {
	tests := []struct {
		name, give, want string
	}{
		{"bad email", "email,role\nbob@example.com,member\nnot-an-email,member\n", `line 3: "not-an-email" is not an email address`},
		{"bad role", "email,role\nbob@example.com,owner\n", `line 2: "owner" is not a role`},
		{"bad kind", "email,role,kind\nbob@example.com,member,robot\n", `line 2: "robot" is not a kind`},
		{"identity without service", "email,role,kind,service,identity\nbob@example.com,member,person,,x\n", "line 2: service and identity go together"},
		{"no header", "bob@example.com,member\n", "Line 1 must be a header"},
		{"empty", "", "The file is empty"},
		{"not CSV", "email,role\n\"unterminated,member\n", "not valid CSV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			dir := &identity.Directory{Store: st, Clock: clock()}
			_, err := dir.Import(context.Background(), strings.NewReader(tt.give))
			if latch.ErrorKindOf(err) != latch.KindInvalid || !strings.Contains(latch.ErrorMessageOf(err), tt.want) {
				t.Fatalf("Import = %v; want an invalid_csv error containing %q", err, tt.want)
			}
			if us, _ := st.ListUsers(context.Background()); len(us) != 0 {
				t.Errorf("a refused import wrote %d users", len(us))
			}
		})
	}
}

func TestSetIdentityAndRoleValidation(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	dir := &identity.Directory{Store: st, Clock: clock()}
	if _, err := dir.SetRole(ctx, "bob@example.com", "owner"); latch.ErrorCodeOf(err) != "invalid_role" {
		t.Errorf("SetRole owner: %v, want invalid_role", err)
	}
	if _, err := dir.SetIdentity(ctx, "bob@example.com", "Bad Service", "x", latch.IdentityFromAdmin); latch.ErrorCodeOf(err) != "invalid_service" {
		t.Errorf("SetIdentity with a bad service: %v, want invalid_service", err)
	}
	if _, err := dir.SetIdentity(ctx, "bob@example.com", "vault", " ", latch.IdentityFromAdmin); latch.ErrorCodeOf(err) != "invalid_identity" {
		t.Errorf("SetIdentity empty: %v, want invalid_identity", err)
	}
	if _, err := dir.SetIdentity(ctx, "Bob@Example.com", "vault", "bob-v", latch.IdentityFromAdmin); err != nil {
		t.Fatal(err)
	}
	u, ids, err := dir.User(ctx, "bob@example.com")
	if err != nil || u.Role != latch.RoleMember || len(ids) != 1 || ids[0].ID != "bob-v" {
		t.Errorf("after SetIdentity of an unknown user: %+v %+v %v; want a member with the identity", u, ids, err)
	}
	if err := dir.DeleteIdentity(ctx, "bob@example.com", "vault"); err != nil {
		t.Fatal(err)
	}
	if err := dir.DeleteIdentity(ctx, "bob@example.com", "vault"); latch.ErrorCodeOf(err) != "identity_not_found" {
		t.Errorf("deleting it again: %v, want identity_not_found", err)
	}
}
