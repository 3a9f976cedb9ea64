package webhook

import (
	"context"

	"github.com/latchhq/latch/pkg/latch"
)

var _ latch.IdentityLookup = (*Escalator)(nil)

// LookupIdentity is the webhook strategy's lookup by email: a webhook target
// knows people by their email, so the email is the identity. Flows whose
// target knows people by another id set identity.lookup_by_email: false and
// name the id with a rule, a hook or `latch users set-identity`.
func (e *Escalator) LookupIdentity(_ context.Context, email string) (string, error) {
	return email, nil
}
