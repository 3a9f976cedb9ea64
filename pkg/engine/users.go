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
	return u.resolve(ctx, email, nil, nil)
}

// Peek returns the user with the given email, or the person Resolve would
// create (with the role RoleFor gives, Version 0) without saving them: for
// judging what someone may do before anything is recorded. A malformed
// email is a KindInvalid *Error.
func (u *Users) Peek(ctx context.Context, email string) (latch.User, error) {
	email = latch.NormalizeEmail(email)
	if !latch.ValidEmail(email) {
		return latch.User{}, latch.Errorf(latch.KindInvalid, "invalid_email", "%q is not an email address.", email)
	}
	user, err := u.Store.GetUser(ctx, email)
	if !errors.Is(err, latch.ErrNotFound) {
		if err != nil {
			return latch.User{}, fmt.Errorf("get user %s: %w", email, err)
		}
		return user, nil
	}
	role, err := u.roleFor(ctx, email)
	if err != nil {
		return latch.User{}, fmt.Errorf("role of new user %s: %w", email, err)
	}
	return latch.User{Email: email, Role: role, Kind: latch.KindPerson}, nil
}

// SlackPerson is someone a Slack payload names, as users.info describes them.
type SlackPerson struct {
	Email  string
	Name   string
	Team   string // the workspace the app met them in
	UserID string // their Slack user id there
	// Guest is set for people Latch must treat as guests whatever their
	// email: Slack Connect users from another organisation, and the
	// workspace's own single- and multi-channel guests.
	Guest bool
}

// ResolveSlack returns the Latch user for a Slack person, creating them on
// first contact (as a guest when p.Guest, else with the role RoleFor gives)
// and recording their Slack user id for the workspace.
func (u *Users) ResolveSlack(ctx context.Context, p SlackPerson) (latch.User, error) {
	newRole := func(ctx context.Context, email string) (latch.Role, error) {
		if p.Guest {
			return latch.RoleGuest, nil
		}
		return u.roleFor(ctx, email)
	}
	update := func(user *latch.User) bool {
		changed := false
		if p.Team != "" && p.UserID != "" && user.SlackIDs[p.Team] != p.UserID {
			if user.SlackIDs == nil {
				user.SlackIDs = map[string]string{}
			}
			user.SlackIDs[p.Team] = p.UserID
			changed = true
		}
		if user.Name == "" && p.Name != "" {
			user.Name = p.Name
			changed = true
		}
		return changed
	}
	return u.resolve(ctx, p.Email, newRole, update)
}

func (u *Users) roleFor(ctx context.Context, email string) (latch.Role, error) {
	if u.RoleFor == nil {
		return latch.RoleMember, nil
	}
	return u.RoleFor(ctx, email)
}

// resolve finds or creates the user with the given email. newRole (nil:
// RoleFor) gives a new user's role; update (nil: none) may change the user,
// new or found, and reports whether it did, in which case the change is
// written conditioned on the version read.
func (u *Users) resolve(ctx context.Context, email string, newRole func(context.Context, string) (latch.Role, error), update func(*latch.User) bool) (latch.User, error) {
	email = latch.NormalizeEmail(email)
	if !latch.ValidEmail(email) {
		return latch.User{}, latch.Errorf(latch.KindInvalid, "invalid_email", "%q is not an email address.", email)
	}
	if newRole == nil {
		newRole = u.roleFor
	}
	for range 3 {
		user, err := u.Store.GetUser(ctx, email)
		switch {
		case err == nil:
			if update == nil || !update(&user) {
				return user, nil
			}
			user.UpdatedAt = u.Clock.Now()
		case errors.Is(err, latch.ErrNotFound):
			role, err := newRole(ctx, email)
			if err != nil {
				return latch.User{}, fmt.Errorf("role of new user %s: %w", email, err)
			}
			user = latch.User{ID: NewID("usr"), Email: email, Role: role, Kind: latch.KindPerson, CreatedAt: u.Clock.Now()}
			if update != nil {
				update(&user)
			}
		default:
			return latch.User{}, fmt.Errorf("get user %s: %w", email, err)
		}
		err = u.Store.PutUser(ctx, user)
		if err == nil {
			user.Version++
			return user, nil
		}
		if !errors.Is(err, latch.ErrConflict) {
			return latch.User{}, fmt.Errorf("save user %s: %w", email, err)
		}
		// Written concurrently: read it again.
	}
	return latch.User{}, fmt.Errorf("save user %s: kept conflicting", email)
}
