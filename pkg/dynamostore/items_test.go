package dynamostore_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/latch"
)

// rawTable creates a table of its own and returns a Store on it, with the
// plain client and the table's name for reading and writing items without
// the Store.
func rawTable(t *testing.T) (*dynamostore.Store, *dynamodb.Client, string) {
	t.Helper()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t)
	if err := dynamostore.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	return dynamostore.New(client, table), client, table
}

func s(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

// An item is a native map that the plain SDK reads without Latch: the
// document's attributes are typed (strings, numbers, maps, lists), usable in
// PartiQL and in update expressions.
func TestItemsAreNativeMaps(t *testing.T) {
	st, client, table := rawTable(t)
	ctx := t.Context()
	at := time.Date(2026, 11, 25, 9, 30, 0, 123456789, time.UTC)
	r := latch.Request{ID: "r1", Flow: "prod-admin", Requester: latch.UserRef{Email: "ann@example.com"},
		Source: latch.SourceAPI, Fields: latch.Fields{"reason": "incident 42", "hours": 2.5},
		Duration: 3600, Status: latch.StatusPending, CreatedAt: at, UpdatedAt: at,
		Approvals: []latch.Decision{{By: latch.Actor{Email: "bob@example.com"}, At: at}}}
	if err := st.Commit(ctx, latch.Change{Requests: []latch.Request{r}}); err != nil {
		t.Fatal(err)
	}

	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]ddbtypes.AttributeValue{"pk": s("REQ#r1"), "sk": s("REQ")}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	doc, ok := out.Item["doc"].(*ddbtypes.AttributeValueMemberM)
	if !ok {
		t.Fatalf("doc is a %T, want a map", out.Item["doc"])
	}
	if got, ok := doc.Value["duration_seconds"].(*ddbtypes.AttributeValueMemberN); !ok || got.Value != "3600" {
		t.Errorf("doc.duration_seconds = %#v, want the number 3600", doc.Value["duration_seconds"])
	}
	// The whole item, decoded by the SDK alone into plain Go values.
	var plain map[string]any
	if err := attributevalue.UnmarshalMap(out.Item, &plain); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"pk": "REQ#r1", "sk": "REQ", "type": "request", "version": 1.0,
		"status_pk": "STATUS#pending", "status_sk": "2026-11-25T09:30:00.123456789Z#r1",
		"flow_pk": "FLOW#prod-admin", "flow_sk": "pending#2026-11-25T09:30:00.123456789Z#r1",
		"requester_pk": "REQUESTER#ann@example.com", "requester_sk": "pending#2026-11-25T09:30:00.123456789Z#r1",
		"flow_requester_pk": "FLOW#prod-admin#REQUESTER#ann@example.com", "flow_requester_sk": "pending#2026-11-25T09:30:00.123456789Z#r1",
		"doc": map[string]any{
			"id": "r1", "flow": "prod-admin", "requester": map[string]any{"email": "ann@example.com"},
			"created_by": map[string]any{}, "source": "api",
			"fields":           map[string]any{"reason": "incident 42", "hours": 2.5},
			"duration_seconds": 3600.0, "status": "pending",
			"approvals":  []any{map[string]any{"by": map[string]any{"email": "bob@example.com"}, "at": "2026-11-25T09:30:00.123456789Z"}},
			"created_at": "2026-11-25T09:30:00.123456789Z", "updated_at": "2026-11-25T09:30:00.123456789Z",
			"version": 1.0, "event_seq": 0.0,
		},
	}
	if diff := cmp.Diff(want, plain); diff != "" {
		t.Errorf("the item as the SDK reads it (-want +got):\n%s", diff)
	}

	// PartiQL reaches into the document.
	pq, err := client.ExecuteStatement(ctx, &dynamodb.ExecuteStatementInput{
		Statement: aws.String(`SELECT doc.status, doc.fields.reason FROM "` + table + `" WHERE pk = 'REQ#r1' AND sk = 'REQ'`),
	})
	if err != nil {
		t.Fatalf("PartiQL: %v", err)
	}
	var rows []map[string]any
	if err := attributevalue.UnmarshalListOfMaps(pq.Items, &rows); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]map[string]any{{"status": "pending", "reason": "incident 42"}}, rows); diff != "" {
		t.Errorf("PartiQL rows (-want +got):\n%s", diff)
	}
}

// legacyJSON is how items were written before documents were maps: the
// entity's JSON in a string attribute.
func legacyJSON(t *testing.T, v any) ddbtypes.AttributeValue {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return s(string(b))
}

// Items written by earlier versions, with a JSON string document, are read
// (by key and in lists), and a commit that changes one writes it as a map.
func TestLegacyJSONItemsAreRead(t *testing.T) {
	st, client, table := rawTable(t)
	ctx := t.Context()
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	g := latch.Grant{ID: "grt_old", Key: "f/t/ann@example.com", Flow: "f", TargetID: "t",
		User: latch.UserRef{Email: "ann@example.com"}, Status: latch.GrantActive,
		Leases:    []latch.Lease{{RequestID: "r_old", Duration: 3600, StartsAt: at, EndsAt: at.Add(time.Hour)}},
		CreatedAt: at, UpdatedAt: at, Version: 3}
	// The item exactly as the earlier code wrote it.
	old := map[string]ddbtypes.AttributeValue{
		"pk": s("GRANT#grt_old"), "sk": s("GRANT"), "type": s("grant"), "doc": legacyJSON(t, g),
		"version":   &ddbtypes.AttributeValueMemberN{Value: "3"},
		"status_pk": s("GRANT_STATUS#active"), "status_sk": s("2026-11-01T08:00:00.000000000Z#grt_old"),
	}
	open := map[string]ddbtypes.AttributeValue{
		"pk": s("GKEY#" + g.Key), "sk": s("GKEY"), "type": s("open_grant"), "grant_id": s(g.ID),
	}
	for _, it := range []map[string]ddbtypes.AttributeValue{old, open} {
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.GetGrant(ctx, "grt_old")
	if err != nil {
		t.Fatalf("GetGrant of a JSON item: %v", err)
	}
	if diff := cmp.Diff(g, got); diff != "" {
		t.Errorf("GetGrant (-want +got):\n%s", diff)
	}
	list, err := st.ListGrants(ctx, latch.GrantActive)
	if err != nil || len(list) != 1 || list[0].ID != "grt_old" {
		t.Fatalf("ListGrants = %+v, %v; want the JSON item", list, err)
	}

	got.Status, got.UpdatedAt = latch.GrantEnded, at.Add(time.Hour)
	if err := st.Commit(ctx, latch.Change{Grants: []latch.Grant{got}}); err != nil {
		t.Fatalf("Commit over a JSON item: %v", err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]ddbtypes.AttributeValue{"pk": s("GRANT#grt_old"), "sk": s("GRANT")}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Item["doc"].(*ddbtypes.AttributeValueMemberM); !ok {
		t.Errorf("after a commit doc is a %T, want a map", out.Item["doc"])
	}
	if g2, err := st.GetGrant(ctx, "grt_old"); err != nil || g2.Status != latch.GrantEnded || g2.Version != 4 {
		t.Errorf("after the commit: %+v, %v", g2, err)
	}

	// A token revoked over its JSON document.
	tok := latch.Token{ID: "tok_old", Hash: "h", Label: "ci", Owner: "ci@example.com", Scopes: []string{"requests:write"}, CreatedAt: at}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
		"pk": s("TOKEN#tok_old"), "sk": s("TOKEN"), "type": s("token"), "doc": legacyJSON(t, tok),
		"shard_pk": s("TOKENS#0"), "shard_sk": s("2026-11-01T08:00:00.000000000Z#tok_old"),
	}}); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(ctx, "tok_old", at.Add(time.Minute)); err != nil {
		t.Fatalf("RevokeToken of a JSON item: %v", err)
	}
	if got, err := st.GetToken(ctx, "tok_old"); err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("revoked token: %+v, %v", got, err)
	}
}

// captureLog sends the default logger's output to a buffer until the test
// ends.
func captureLog(t *testing.T) *lockedBuffer {
	t.Helper()
	buf := &lockedBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return buf
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A garbled item among good ones is left out of the lists (those the
// reconciler reads among them) with an ERROR log naming it; it blocks
// nothing. Read by its key, it is an error.
func TestUndecodableItemIsLeftOutOfLists(t *testing.T) {
	st, client, table := rawTable(t)
	ctx := t.Context()
	logs := captureLog(t)
	now := time.Now().UTC()
	var grants []latch.Grant
	for _, id := range []string{"grt_a", "grt_c"} {
		grants = append(grants, latch.Grant{ID: id, Key: "f/t/" + id, Flow: "f", TargetID: "t",
			User: latch.UserRef{Email: "ann@example.com"}, Status: latch.GrantActive, CreatedAt: now, UpdatedAt: now})
	}
	if err := st.Commit(ctx, latch.Change{Grants: grants,
		Effects: []latch.Effect{{ID: "e_good", Kind: latch.EffectNotify, RequestID: "r1", CreatedAt: now}}}); err != nil {
		t.Fatal(err)
	}
	garbled := []map[string]ddbtypes.AttributeValue{
		// A map whose creation time is not a time.
		{"pk": s("GRANT#grt_b"), "sk": s("GRANT"), "type": s("grant"),
			"doc":       &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"id": s("grt_b"), "created_at": s("yesterday")}},
			"status_pk": s("GRANT_STATUS#active"), "status_sk": s(now.Format(time.RFC3339Nano) + "#grt_b")},
		// Torn JSON in the old string form.
		{"pk": s("GRANT#grt_d"), "sk": s("GRANT"), "type": s("grant"), "doc": s(`{"id":"grt_d","sta`),
			"status_pk": s("GRANT_STATUS#active"), "status_sk": s(now.Format(time.RFC3339Nano) + "#grt_d")},
		// An outbox effect with no document at all.
		{"pk": s("EFFECT#e_bad"), "sk": s("EFFECT"), "type": s("effect"),
			"shard_pk": s("OUTBOX#0"), "shard_sk": s(now.Format(time.RFC3339Nano) + "#e_bad")},
	}
	for _, it := range garbled {
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}

	list, err := st.ListGrants(ctx, latch.GrantActive)
	if err != nil {
		t.Fatalf("ListGrants with a garbled item: %v, want the good grants", err)
	}
	var ids []string
	for _, g := range list {
		ids = append(ids, g.ID)
	}
	if diff := cmp.Diff([]string{"grt_a", "grt_c"}, ids); diff != "" {
		t.Errorf("ListGrants (-want +got):\n%s", diff)
	}
	effects, err := st.PendingEffects(ctx, 0)
	if err != nil || len(effects) != 1 || effects[0].ID != "e_good" {
		t.Errorf("PendingEffects = %+v, %v; want e_good alone", effects, err)
	}
	for _, key := range []string{"GRANT#grt_b", "GRANT#grt_d", "EFFECT#e_bad"} {
		if !strings.Contains(logs.String(), `"pk":"`+key+`"`) {
			t.Errorf("no log names the garbled item %s; logs:\n%s", key, logs)
		}
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("the garbled items are not logged at ERROR; logs:\n%s", logs)
	}
	if _, err := st.GetGrant(ctx, "grt_b"); err == nil {
		t.Error("GetGrant of the garbled item: no error")
	}
}
