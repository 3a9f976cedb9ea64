package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// Changes that belong to no request — roles, identities, domains, bots,
// tokens, and identities Latch learns — are in the audit trail too.
func TestAdminChangesAreAudited(t *testing.T) {
	tg := newTarget(t)
	srv := startServer(t, writeFlows(t, map[string]string{"prod-access.yaml": webhookFlow(tg.srv.URL + "/hook")}), t.TempDir())
	c := srv.client()
	ctx := context.Background()

	if _, err := c.SetRole(ctx, "root@example.com", latch.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetIdentity(ctx, "bob@example.com", "vault", "bob-v"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddDomain(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBot(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	issued, err := c.IssueToken(ctx, httpapi.TokenBody{Bot: "ci", Label: "deploys", Scopes: []string{"requests:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeToken(ctx, issued.Token.ID); err != nil {
		t.Fatal(err)
	}
	// A grant learns carol's webhook identity (her email) by lookup.
	req, err := c.CreateRequest(ctx, httpapi.CreateBody{Flow: "prod-access", UserEmail: "carol@example.com", Fields: map[string]any{"reason": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Act(ctx, req.ID, "approve", httpapi.ActionBody{As: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	tg.next(10 * time.Second)
	waitStatus(t, c, req.ID, latch.StatusActive, 5*time.Second)

	page, err := c.Audit(ctx, client.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ typ, about, bot, source string }
	got := map[key]bool{}
	for _, e := range page.Events {
		got[key{e.Event.Type, e.Event.Requester, e.Event.Actor.Bot, e.Event.Source}] = true
	}
	for _, want := range []key{
		{"role_changed", "root@example.com", "admin", "admin"},
		{"identity_mapped", "bob@example.com", "admin", "admin"},
		{"domain_added", "", "admin", "admin"},
		{"bot_created", "ci@bots.invalid", "admin", "admin"},
		{"token_issued", "ci@bots.invalid", "admin", "admin"},
		{"token_revoked", "", "admin", "admin"},
		{"identity_mapped", "carol@example.com", "", "latch"},
	} {
		if !got[want] {
			t.Errorf("no %s event about %q by %q from %q in the audit trail", want.typ, want.about, want.bot, want.source)
		}
	}
	// --user finds what concerned a person.
	bob, err := c.Audit(ctx, client.AuditFilter{User: "bob@example.com", Types: []string{"identity_mapped"}})
	if err != nil || len(bob.Events) != 1 || bob.Events[0].Event.Data["identity"] != "bob-v" {
		t.Errorf("bob's identity events = %+v, %v; want the one an admin set", bob.Events, err)
	}
}
