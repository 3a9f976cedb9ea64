// Package identity knows who people are: the role a new user joins with (by
// the organisation's email domains), and each user's id in the systems Latch
// grants access to, found in the order a flow's identity block sets out.
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/latchhq/latch/pkg/ids"
	"github.com/latchhq/latch/pkg/latch"
)

// HookCaller asks a flow's get_identity hook for a user's id. It returns ""
// and nil when the hook knows none.
type HookCaller interface {
	GetIdentity(ctx context.Context, f *latch.Flow, u latch.User) (string, error)
}

// Failure codes of identity discovery.
const (
	CodeNotFound  = "identity_not_found"
	CodeRuleError = "identity_rule_failed"
)

// Resolver finds a grantee's id in a flow's identity service.
type Resolver struct {
	Store latch.Store
	Hooks HookCaller // nil when no flow has a get_identity hook
	// Escalator returns the escalator of a flow's strategy, for its lookup by email.
	Escalator func(*latch.Flow) (latch.Escalator, error)
	Clock     latch.Clock
	Log       *slog.Logger
}

// Resolve returns the user's id in f's identity service: the stored one;
// else what the flow's rule or get_identity hook gives; else the strategy's
// own lookup by email where the flow allows it and the strategy has one.
// What a rule, hook or lookup finds is stored for next time. When nothing
// knows the user, it returns a Permanent KindNotFound *latch.Error with code
// identity_not_found whose message names the admin command that fixes it.
// A hook's or lookup's own error is returned as it is (retryable unless
// marked Permanent).
func (r *Resolver) Resolve(ctx context.Context, f *latch.Flow, ref latch.UserRef) (string, error) {
	service := f.IdentityService()
	email := latch.NormalizeEmail(ref.Email)
	stored, err := r.Store.GetIdentity(ctx, email, service)
	switch {
	case err == nil:
		return stored.ID, nil
	case !errors.Is(err, latch.ErrNotFound):
		return "", fmt.Errorf("read %s identity of %s: %w", service, email, err)
	}

	user, err := r.Store.GetUser(ctx, email)
	if errors.Is(err, latch.ErrNotFound) {
		user = latch.User{ID: ref.ID, Email: email}
	} else if err != nil {
		return "", fmt.Errorf("read user %s: %w", email, err)
	}

	var id, source string
	switch {
	case f.Identity.Rule != nil:
		id, err = f.Identity.Rule.Eval(&user)
		if err != nil && !errors.Is(err, latch.ErrEmptyIdentity) {
			return "", latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRuleError,
				Message: fmt.Sprintf("The identity rule of flow %q failed for %s: %v. An admin must fix the rule, or set the identity with: latch users set-identity %s %s ID",
					f.Name, email, err, email, service), Err: err})
		}
		source = latch.IdentityFromRule
	case f.Hooks.GetIdentity != "" && r.Hooks != nil:
		id, err = r.Hooks.GetIdentity(ctx, f, user)
		if err != nil {
			return "", err
		}
		source = latch.IdentityFromHook
	}
	if id = strings.TrimSpace(id); id == "" && f.Identity.LookupByEmail && r.Escalator != nil && f.Strategy != nil {
		if id, err = r.lookup(ctx, f, email); err != nil {
			return "", err
		}
		source = latch.IdentityFromLookup
	}
	if id == "" {
		return "", latch.Permanent(NotFound(email, service))
	}
	if err := r.Store.PutIdentity(ctx, latch.Identity{Email: email, Service: service, ID: id, Source: source,
		UpdatedAt: r.Clock.Now()}); err != nil {
		return "", fmt.Errorf("store %s identity of %s: %w", service, email, err)
	}
	ev := latch.AuditEvent{ID: ids.New("evt"), Type: latch.AuditIdentityMapped, At: r.Clock.Now(), Flow: f.Name,
		Requester: email, Source: latch.SourceLatch, Data: map[string]any{"service": service, "identity": id, "from": source}}
	if err := r.Store.AppendAudit(ctx, ev); err != nil && r.Log != nil {
		r.Log.ErrorContext(ctx, "could not record an audit event", "type", ev.Type, "about", email, "err", err)
	}
	return id, nil
}

func (r *Resolver) lookup(ctx context.Context, f *latch.Flow, email string) (string, error) {
	esc, err := r.Escalator(f)
	if err != nil {
		return "", err
	}
	lk, ok := esc.(latch.IdentityLookup)
	if !ok {
		return "", nil
	}
	id, err := lk.LookupIdentity(ctx, email)
	if errors.Is(err, latch.ErrNotFound) {
		return "", nil
	}
	return strings.TrimSpace(id), err
}

// NotFound is the error of a grant whose grantee has no known identity: it
// says what is missing and the command that fixes it.
func NotFound(email, service string) *latch.Error {
	fix := fmt.Sprintf("latch users set-identity %s %s ID", email, service)
	return &latch.Error{Kind: latch.KindNotFound, Code: CodeNotFound,
		Message: fmt.Sprintf("Latch does not know %s's identity in %s, so nothing was granted. An admin can set it with: %s", email, service, fix),
		Details: map[string]any{"email": email, "service": service, "fix": fix}}
}
