package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/latchhq/latch/pkg/ids"
	"github.com/latchhq/latch/pkg/latch"
)

// NormalizeDomain lower-cases and trims a domain name, drops a leading "@",
// and checks that it looks like a DNS name with at least two labels.
func NormalizeDomain(s string) (string, error) {
	d := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "@")
	d = strings.TrimSuffix(d, ".")
	labels := strings.Split(d, ".")
	if len(d) == 0 || len(d) > 253 || len(labels) < 2 {
		return "", latch.Errorf(latch.KindInvalid, "invalid_domain", "%q is not a domain name such as example.com.", s)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", latch.Errorf(latch.KindInvalid, "invalid_domain", "%q is not a domain name such as example.com.", s)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", latch.Errorf(latch.KindInvalid, "invalid_domain", "%q is not a domain name such as example.com.", s)
			}
		}
	}
	return d, nil
}

// InDomains reports whether email's domain is one of domains or a subdomain
// of one (eng.example.com is in example.com). Comparison ignores case.
func InDomains(email string, domains []string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(email[at+1:], "."))
	return slices.ContainsFunc(domains, func(d string) bool {
		d = strings.ToLower(d)
		return host == d || strings.HasSuffix(host, "."+d)
	})
}

// Directory manages people: the roles new users join with, roles, identities
// and the organisation's email domains. Every method that changes something
// is an admin's; the caller checks that.
type Directory struct {
	Store latch.Store
	Clock latch.Clock
}

// RoleFor is the role a new person with this email joins with: member when
// the email is in one of the organisation's domains, or when no domain is
// configured at all (so that a first try works); guest otherwise.
func (d *Directory) RoleFor(ctx context.Context, email string) (latch.Role, error) {
	ds, err := d.Store.ListDomains(ctx)
	if err != nil {
		return "", fmt.Errorf("list domains: %w", err)
	}
	return roleIn(email, ds), nil
}

// roleIn is RoleFor over domains already read.
func roleIn(email string, ds []latch.Domain) latch.Role {
	if len(ds) == 0 {
		return latch.RoleMember
	}
	names := make([]string, len(ds))
	for i, dm := range ds {
		names[i] = dm.Name
	}
	if InDomains(email, names) {
		return latch.RoleMember
	}
	return latch.RoleGuest
}

// Domains lists the organisation's domains.
func (d *Directory) Domains(ctx context.Context) ([]latch.Domain, error) {
	return d.Store.ListDomains(ctx)
}

// AddDomain adds a domain (idempotent) and returns its normalized name. It
// changes no existing user.
func (d *Directory) AddDomain(ctx context.Context, name string) (string, error) {
	n, err := NormalizeDomain(name)
	if err != nil {
		return "", err
	}
	return n, d.Store.PutDomain(ctx, latch.Domain{Name: n, CreatedAt: d.Clock.Now()})
}

// RemoveDomain removes a domain. It changes no existing user. It returns a
// KindNotFound *latch.Error when the domain is not listed.
func (d *Directory) RemoveDomain(ctx context.Context, name string) error {
	n, err := NormalizeDomain(name)
	if err != nil {
		return err
	}
	if err := d.Store.DeleteDomain(ctx, n); errors.Is(err, latch.ErrNotFound) {
		return latch.Errorf(latch.KindNotFound, "domain_not_found", "%s is not one of the organisation's domains.", n)
	} else if err != nil {
		return err
	}
	return nil
}

// User returns a user and their identities, or a KindNotFound *latch.Error.
func (d *Directory) User(ctx context.Context, email string) (latch.User, []latch.Identity, error) {
	email = latch.NormalizeEmail(email)
	u, err := d.Store.GetUser(ctx, email)
	if errors.Is(err, latch.ErrNotFound) {
		return u, nil, latch.Errorf(latch.KindNotFound, "user_not_found", "Latch does not know %s yet.", email)
	} else if err != nil {
		return u, nil, err
	}
	ids, err := d.Store.ListIdentities(ctx, email)
	return u, ids, err
}

// SetRole sets a user's role, creating the user (a person) when Latch does
// not know them yet: this is how single-user exceptions to the domain rule
// and admins are made.
func (d *Directory) SetRole(ctx context.Context, email string, role latch.Role) (latch.User, error) {
	email = latch.NormalizeEmail(email)
	if !latch.ValidEmail(email) {
		return latch.User{}, latch.Errorf(latch.KindInvalid, "invalid_email", "%q is not an email address.", email)
	}
	if !role.Valid() {
		return latch.User{}, latch.Errorf(latch.KindInvalid, "invalid_role", "%q is not a role: use admin, member or guest.", role)
	}
	for range 5 {
		u, err := d.Store.GetUser(ctx, email)
		switch {
		case errors.Is(err, latch.ErrNotFound):
			u = latch.User{ID: newUserID(), Email: email, Kind: latch.KindPerson, CreatedAt: d.Clock.Now()}
		case err != nil:
			return u, err
		}
		u.Role = role
		u.UpdatedAt = d.Clock.Now()
		err = d.Store.PutUser(ctx, u)
		if err == nil {
			u.Version++
			return u, nil
		}
		if !errors.Is(err, latch.ErrConflict) {
			return u, err
		}
	}
	return latch.User{}, fmt.Errorf("set role of %s: %w", email, latch.ErrConflict)
}

// SetIdentity sets a user's id in a service, creating the user (with the
// role RoleFor gives) when Latch does not know them yet.
func (d *Directory) SetIdentity(ctx context.Context, email, service, id, source string) (latch.Identity, error) {
	email = latch.NormalizeEmail(email)
	service = strings.TrimSpace(service)
	id = strings.TrimSpace(id)
	switch {
	case !latch.ValidEmail(email):
		return latch.Identity{}, latch.Errorf(latch.KindInvalid, "invalid_email", "%q is not an email address.", email)
	case !ValidService(service):
		return latch.Identity{}, latch.Errorf(latch.KindInvalid, "invalid_service",
			"%q is not a service name: 1 to 64 lower-case letters, digits, '_', '-', '.' or ':'.", service)
	case id == "":
		return latch.Identity{}, latch.Errorf(latch.KindInvalid, "invalid_identity", "The identity must not be empty.")
	}
	if _, err := d.Store.GetUser(ctx, email); errors.Is(err, latch.ErrNotFound) {
		role, err := d.RoleFor(ctx, email)
		if err != nil {
			return latch.Identity{}, err
		}
		err = d.Store.PutUser(ctx, latch.User{ID: newUserID(), Email: email, Role: role, Kind: latch.KindPerson, CreatedAt: d.Clock.Now()})
		if err != nil && !errors.Is(err, latch.ErrConflict) {
			return latch.Identity{}, err
		}
	} else if err != nil {
		return latch.Identity{}, err
	}
	ident := latch.Identity{Email: email, Service: service, ID: id, Source: source, UpdatedAt: d.Clock.Now()}
	return ident, d.Store.PutIdentity(ctx, ident)
}

// DeleteIdentity forgets a user's id in a service; the next grant discovers
// it again. It returns a KindNotFound *latch.Error when there is none.
func (d *Directory) DeleteIdentity(ctx context.Context, email, service string) error {
	email = latch.NormalizeEmail(email)
	err := d.Store.DeleteIdentity(ctx, email, strings.TrimSpace(service))
	if errors.Is(err, latch.ErrNotFound) {
		return latch.Errorf(latch.KindNotFound, "identity_not_found", "Latch holds no %s identity for %s.", service, email)
	}
	return err
}

// ValidService reports whether s is a service name: 1 to 64 of [a-z0-9_.:-].
func ValidService(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("_.:-", c)) {
			return false
		}
	}
	return true
}

func newUserID() string { return ids.New("usr") }
