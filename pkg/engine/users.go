package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchhq/latch/pkg/latch"
)

// Users finds people by email, creating them on first contact.
type Users struct {
	Store latch.Store
	Clock latch.Clock
	// RoleFor decides a new user's role from the email (by the
	// organisation's domains); nil makes every new user a member.
	RoleFor func(ctx context.Context, email string) (latch.Role, error)
}

// Resolve returns the user with the given email, creating a person with the
// role RoleFor gives when there is none. A malformed email is a KindInvalid
// *Error.
func (u *Users) Resolve(ctx context.Context, email string) (latch.User, error) {
	email = latch.NormalizeEmail(email)
	if !latch.ValidEmail(email) {
		return latch.User{}, latch.Errorf(latch.KindInvalid, "invalid_email", "%q is not an email address.", email)
	}
	for range 3 {
		user, err := u.Store.GetUser(ctx, email)
		if err == nil {
			return user, nil
		}
		if !errors.Is(err, latch.ErrNotFound) {
			return latch.User{}, fmt.Errorf("get user %s: %w", email, err)
		}
		role := latch.RoleMember
		if u.RoleFor != nil {
			if role, err = u.RoleFor(ctx, email); err != nil {
				return latch.User{}, fmt.Errorf("role of new user %s: %w", email, err)
			}
		}
		user = latch.User{ID: NewID("usr"), Email: email, Role: role, Kind: latch.KindPerson, CreatedAt: u.Clock.Now()}
		err = u.Store.PutUser(ctx, user)
		if err == nil {
			user.Version = 1
			return user, nil
		}
		if !errors.Is(err, latch.ErrConflict) {
			return latch.User{}, fmt.Errorf("create user %s: %w", email, err)
		}
		// Created concurrently: read it again.
	}
	return latch.User{}, fmt.Errorf("create user %s: kept conflicting", email)
}
