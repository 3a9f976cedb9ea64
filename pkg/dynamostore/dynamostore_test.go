package dynamostore_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/dynamostore"

	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/sfngrants"
	"github.com/latchhq/latch/pkg/storetest"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

func TestContract(t *testing.T) {
	dynamotest.Endpoint(t) // skip (or fail) once, not in every subtest, without DynamoDB Local
	storetest.Run(t, func(t *testing.T) latch.Store { return dynamotest.NewStore(t) })
}

func TestCommitOfMoreThanMaxItemsFails(t *testing.T) {
	s := dynamotest.NewStore(t)
	effects := func(n int) []latch.Effect {
		out := make([]latch.Effect, n)
		for i := range out {
			out[i] = latch.Effect{ID: fmt.Sprintf("big/%d", i), Kind: latch.EffectNotify, RequestID: "r1", CreatedAt: time.Now()}
		}
		return out
	}
	// The dedup marker is an item too.
	fits := latch.Change{Dedup: "fits", Effects: effects(dynamostore.MaxItems - 1)}
	if err := s.Commit(t.Context(), fits); err != nil {
		t.Fatalf("Commit of %d items: %v", dynamostore.MaxItems, err)
	}
	tooBig := latch.Change{Dedup: "too-big", Effects: effects(dynamostore.MaxItems)}
	err := s.Commit(t.Context(), tooBig)
	if !errors.Is(err, dynamostore.ErrTooLarge) {
		t.Fatalf("Commit of %d items: got %v, want ErrTooLarge", dynamostore.MaxItems+1, err)
	}
	if !strings.Contains(err.Error(), "101 items") {
		t.Errorf("error %q does not give the item count", err)
	}
}

func TestAppendOfMoreThanMaxAppendFails(t *testing.T) {
	s := dynamotest.NewStore(t)
	events := func(n int) []latch.AuditEvent {
		out := make([]latch.AuditEvent, n)
		for i := range out {
			out[i] = latch.AuditEvent{ID: fmt.Sprintf("admin-%03d", i), Type: latch.AuditUsersImported, At: time.Now()}
		}
		return out
	}
	if err := s.AppendAudit(t.Context(), events(dynamostore.MaxAppend)...); err != nil {
		t.Fatalf("AppendAudit of %d events: %v", dynamostore.MaxAppend, err)
	}
	err := s.AppendAudit(t.Context(), events(dynamostore.MaxAppend+1)...)
	if !errors.Is(err, dynamostore.ErrTooLarge) {
		t.Fatalf("AppendAudit of %d events: got %v, want ErrTooLarge", dynamostore.MaxAppend+1, err)
	}
}

// TestOnlyDedupMarkersExpire reads the raw items: dedup markers carry a TTL
// of DedupTTL, and nothing else (above all, no audit event, of a request
// or of none, no message ref, and no token, even one that expires) carries
// one.
func TestOnlyDedupMarkersExpire(t *testing.T) {
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t)
	if err := dynamostore.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(client, table)
	now := time.Now()
	c := latch.Change{
		Dedup:    "create/r1",
		Requests: []latch.Request{{ID: "r1", Flow: "f", Requester: latch.UserRef{Email: "ann@example.com"}, Status: latch.StatusPending, CreatedAt: now}},
		Grants:   []latch.Grant{{ID: "g1", Key: "k1", Status: latch.GrantActive, CreatedAt: now}},
		Audit:    []latch.AuditEvent{{ID: "r1/1", RequestID: "r1", Seq: 1, Type: latch.AuditRequested, At: now}},
		Effects:  []latch.Effect{{ID: "create/r1/0", Kind: latch.EffectNotify, RequestID: "r1", CreatedAt: now}},
	}
	if err := s.Commit(t.Context(), c); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := s.PutUser(t.Context(), latch.User{Email: "ann@example.com", Role: latch.RoleMember}); err != nil {
		t.Fatalf("PutUser: %v", err)
	}
	if err := s.PutIdentity(t.Context(), latch.Identity{Email: "ann@example.com", Service: "okta", ID: "00u1", UpdatedAt: now}); err != nil {
		t.Fatalf("PutIdentity: %v", err)
	}
	if err := s.PutDomain(t.Context(), latch.Domain{Name: "example.com", CreatedAt: now}); err != nil {
		t.Fatalf("PutDomain: %v", err)
	}
	expires := now.Add(time.Hour)
	if err := s.CreateToken(t.Context(), latch.Token{ID: "t1", Hash: "h1", CreatedAt: now, ExpiresAt: &expires}); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if err := s.AppendAudit(t.Context(), latch.AuditEvent{ID: "admin-1", Type: latch.AuditTokenIssued, At: now}); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if err := s.PutMessageRef(t.Context(), latch.MessageRef{RequestID: "r1", Kind: "approval", Channel: "C1", TS: "1.2", PostedAt: now}); err != nil {
		t.Fatalf("PutMessageRef: %v", err)
	}

	out, err := client.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	types := map[string]int{}
	for _, it := range out.Items {
		typ := it[dynamostore.AttrType].(*ddbtypes.AttributeValueMemberS).Value
		types[typ]++
		ttl, hasTTL := it[dynamostore.AttrTTL].(*ddbtypes.AttributeValueMemberN)
		switch {
		case typ == dynamostore.TypeDedup && !hasTTL:
			t.Errorf("dedup marker %v has no %s", it[dynamostore.AttrPK], dynamostore.AttrTTL)
		case typ == dynamostore.TypeDedup:
			secs, err := strconv.ParseInt(ttl.Value, 10, 64)
			want := now.Add(dynamostore.DedupTTL)
			if err != nil || secs < want.Add(-time.Hour).Unix() || secs > want.Add(time.Hour).Unix() {
				t.Errorf("dedup marker expires at %s, want about %v", ttl.Value, want)
			}
		case hasTTL:
			t.Errorf("%s item %v has a %s; only dedup markers may expire", typ, it[dynamostore.AttrPK], dynamostore.AttrTTL)
		}
	}
	want := map[string]int{dynamostore.TypeDedup: 1, dynamostore.TypeRequest: 1, dynamostore.TypeGrant: 1,
		dynamostore.TypeOpenGrant: 1, dynamostore.TypeAudit: 2, dynamostore.TypeAuditID: 1, dynamostore.TypeEffect: 1, dynamostore.TypeUser: 1,
		dynamostore.TypeIdentity: 1, dynamostore.TypeDomain: 1, dynamostore.TypeToken: 1, dynamostore.TypeTokenHash: 1,
		dynamostore.TypeMessageRef: 1}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("items by type (-want +got):\n%s", diff)
	}
}

// TestDeleteUserWithMoreIdentitiesThanOneTransaction deletes a user with
// more identities than one transaction can delete along with the user.
func TestDeleteUserWithMoreIdentitiesThanOneTransaction(t *testing.T) {
	s := dynamotest.NewStore(t)
	if err := s.PutUser(t.Context(), latch.User{Email: "ann@example.com", Role: latch.RoleMember}); err != nil {
		t.Fatalf("PutUser: %v", err)
	}
	n := 2*dynamostore.MaxItems + 1
	for i := range n {
		id := latch.Identity{Email: "ann@example.com", Service: fmt.Sprintf("svc-%03d", i), ID: "x", UpdatedAt: time.Now()}
		if err := s.PutIdentity(t.Context(), id); err != nil {
			t.Fatalf("PutIdentity %d: %v", i, err)
		}
	}
	if ids, err := s.ListIdentities(t.Context(), "ann@example.com"); err != nil || len(ids) != n {
		t.Fatalf("ListIdentities before DeleteUser = %d identities, %v; want %d", len(ids), err, n)
	}
	if err := s.DeleteUser(t.Context(), "ann@example.com"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if ids, err := s.ListIdentities(t.Context(), "ann@example.com"); err != nil || len(ids) != 0 {
		t.Errorf("ListIdentities after DeleteUser = %d identities, %v; want none", len(ids), err)
	}
	if _, err := s.GetUser(t.Context(), "ann@example.com"); !errors.Is(err, latch.ErrNotFound) {
		t.Errorf("GetUser after DeleteUser: got %v, want ErrNotFound", err)
	}
}

// Benchmarks against DynamoDB Local (its figures say little about DynamoDB
// itself, but show the client's cost and catch regressions); record
// figures with
//
//	go test -run '^$' -bench . -benchmem ./pkg/dynamostore

func BenchmarkCommit(b *testing.B) { storetest.BenchCommit(b, dynamotest.NewStore(b)) }

func BenchmarkGetRequest(b *testing.B) { storetest.BenchGetRequest(b, dynamotest.NewStore(b)) }

// The hold tokens of the grant state machine (sfngrants.Tokens): replaced by
// each put, read consistently, none is ErrNotFound, and they do not disturb
// the grant in the same partition. The revoke's last error is kept beside
// the token: neither write drops the other.
func TestHoldTokens(t *testing.T) {
	s := dynamotest.NewStore(t)
	ctx := t.Context()
	var _ sfngrants.Tokens = s
	if _, _, err := s.HoldToken(ctx, "grt_1"); !errors.Is(err, latch.ErrNotFound) {
		t.Fatalf("no token yet: %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeError(ctx, "grt_1"); !errors.Is(err, latch.ErrNotFound) {
		t.Fatalf("no revoke error yet: %v, want ErrNotFound", err)
	}
	g := latch.Grant{ID: "grt_1", Key: "f/t/a@example.com", Flow: "f", TargetID: "t", User: latch.UserRef{Email: "a@example.com"},
		Status: latch.GrantActive, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := s.Commit(ctx, latch.Change{Grants: []latch.Grant{g}}); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	end := "2026-12-02T13:00:00.5Z"
	for i, tok := range []string{"AAAAKgAAAAIAAAAAAAAAA-first", sfngrants.RevokeOver} {
		until := end
		if tok == sfngrants.RevokeOver {
			until = ""
		}
		if err := s.PutHoldToken(ctx, "grt_1", tok, until, at.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, gotUntil, err := s.HoldToken(ctx, "grt_1"); err != nil || got != tok || gotUntil != until {
			t.Errorf("HoldToken = %q, %q, %v; want %q, %q", got, gotUntil, err, tok, until)
		}
		if i == 0 {
			if err := s.PutRevokeError(ctx, "grt_1", "deescalation_failed: target API: 503 Service Unavailable"); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := s.HoldToken(ctx, "grt_1"); got != tok {
				t.Errorf("after the revoke error HoldToken = %q, want %q", got, tok)
			}
		}
	}
	if got, err := s.RevokeError(ctx, "grt_1"); err != nil || got != "deescalation_failed: target API: 503 Service Unavailable" {
		t.Errorf("RevokeError after a token put = %q, %v; want the error kept", got, err)
	}
	// A task that started earlier, writing late, loses to the later one.
	if err := s.PutHoldToken(ctx, "grt_1", "AAAAKgAAAAIAAAAAAAAAA-stale", end, at.Add(500*time.Millisecond)); err != nil {
		t.Fatalf("a stale write: %v, want it dropped without an error", err)
	}
	if got, _, _ := s.HoldToken(ctx, "grt_1"); got != sfngrants.RevokeOver {
		t.Errorf("after a stale write HoldToken = %q, want the later task's", got)
	}
	if got, err := s.GetGrant(ctx, "grt_1"); err != nil || got.Status != latch.GrantActive {
		t.Errorf("the grant beside the token: %+v, %v", got, err)
	}
	if _, _, err := s.HoldToken(ctx, "grt_2"); !errors.Is(err, latch.ErrNotFound) {
		t.Errorf("another grant's token: %v, want ErrNotFound", err)
	}
	// A revoke that fails before any Hold ran (a revoke-only execution)
	// records its error all the same; there is still no token.
	if err := s.PutRevokeError(ctx, "grt_3", "identity_unavailable: lookup timed out"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RevokeError(ctx, "grt_3"); err != nil || got != "identity_unavailable: lookup timed out" {
		t.Errorf("RevokeError = %q, %v", got, err)
	}
	if _, _, err := s.HoldToken(ctx, "grt_3"); !errors.Is(err, latch.ErrNotFound) {
		t.Errorf("a revoke error alone: HoldToken %v, want ErrNotFound", err)
	}
	if err := s.PutHoldToken(ctx, "grt_3", "AAAAKgAAAAIAAAAAAAAAA-third", "", at); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.HoldToken(ctx, "grt_3"); err != nil || got != "AAAAKgAAAAIAAAAAAAAAA-third" {
		t.Errorf("the token after a revoke error: %q, %v", got, err)
	}
}
