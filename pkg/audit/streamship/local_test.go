package streamship

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/latch"
)

var update = flag.Bool("update", false, "rewrite testdata/stream.json from DynamoDB Local")

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// The scenario written through dynamostore: a request made, approved and
// escalated (three commits), and an admin event of no request.
const (
	reqID   = "req_01jdq3m8z6n9v4c2b7x5k1h0te"
	adminID = "evt_01jdq4a7c2m5n8p1r4t7w0y3zb"
	grantID = "grt_01jdq3q0b5e8h1k4n7q0t3w6za"
)

var t0 = time.Date(2026, 11, 25, 9, 29, 0, 0, time.UTC)

func scenario() (commits []latch.Change, admin latch.AuditEvent) {
	r := latch.Request{ID: reqID, Flow: "prod-db", Requester: latch.UserRef{Email: "dev@example.com"},
		CreatedBy: latch.Actor{Email: "dev@example.com"}, Source: latch.SourceSlack,
		Fields:   latch.Fields{"ticket": "INC-1234", "duration": int64(3600), "databases": []string{"orders", "billing"}},
		Context:  map[string]any{"pipeline": "deploy-42"},
		TargetID: "db-admin", Duration: 3600, Status: latch.StatusPending, CreatedAt: t0, UpdatedAt: t0}
	ev := func(seq int64, typ latch.AuditType, at time.Time, actor latch.Actor, src latch.Source) latch.AuditEvent {
		return latch.AuditEvent{ID: latch.AuditEventID(reqID, seq), RequestID: reqID, Seq: seq, Type: typ, At: at,
			Flow: r.Flow, Requester: r.Requester.Email, Actor: actor, TargetID: r.TargetID, Source: src}
	}
	requested := ev(1, latch.AuditRequested, t0, r.CreatedBy, latch.SourceSlack)
	requested.Fields, requested.Reason = r.Fields, "deploy hotfix"
	requested.Data = map[string]any{"context": r.Context}
	r.EventSeq = 1
	commits = append(commits, latch.Change{Dedup: "create/" + reqID, Requests: []latch.Request{r}, Audit: []latch.AuditEvent{requested},
		Effects: []latch.Effect{{ID: "create/" + reqID + "/0", Kind: latch.EffectNotify, RequestID: reqID, Event: latch.AuditRequested, CreatedAt: t0}}})

	t1 := t0.Add(time.Minute)
	r.Version, r.Status, r.UpdatedAt, r.EventSeq = 1, latch.StatusEscalating, t1, 2
	r.Approvals = []latch.Decision{{By: latch.Actor{Email: "lead@example.com"}, At: t1}}
	approved := ev(2, latch.AuditApproved, t1, latch.Actor{Email: "lead@example.com"}, latch.SourceSlack)
	commits = append(commits, latch.Change{Dedup: "approve/" + reqID + "/lead", Requests: []latch.Request{r}, Audit: []latch.AuditEvent{approved}})

	t2 := t1.Add(1500 * time.Millisecond)
	end := t2.Add(time.Hour)
	r.Version, r.Status, r.UpdatedAt, r.EventSeq, r.GrantID, r.StartsAt, r.EndsAt = 2, latch.StatusActive, t2, 3, grantID, &t2, &end
	escalated := ev(3, latch.AuditEscalated, t2, latch.Actor{}, latch.SourceLatch)
	escalated.GrantID = grantID
	escalated.Data = map[string]any{"starts_at": t2.Format(time.RFC3339Nano), "ends_at": end.Format(time.RFC3339Nano)}
	commits = append(commits, latch.Change{Dedup: "escalated/" + grantID + "/v1", Requests: []latch.Request{r}, Audit: []latch.AuditEvent{escalated}})

	admin = latch.AuditEvent{ID: adminID, Type: latch.AuditRoleChanged, At: t2.Add(4 * time.Minute), Requester: "dev@example.com",
		Actor: latch.Actor{Email: "admin@example.com", Bot: "admin"}, Source: latch.SourceAdmin, Data: map[string]any{"role": "admin"}}
	return commits, admin
}

// TestDynamoDBLocalStream writes the scenario through dynamostore into a
// table of DynamoDB Local with a NEW_IMAGE stream, reads the stream back
// with GetRecords, and ships it as Lambda would deliver it. With -update it
// saves the records as testdata/stream.json (what the other tests use);
// without, it checks that the saved items are exactly those dynamostore
// writes today.
func TestDynamoDBLocalStream(t *testing.T) {
	if testing.Short() {
		t.Skip("DynamoDB Local: not in -short")
	}
	endpoint := dynamotest.Endpoint(t)
	client := dynamotest.NewClient(endpoint)
	table := dynamotest.TableName(t)
	ctx := t.Context()
	if err := dynamostore.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			t.Errorf("delete table %s: %v", table, err)
		}
	})
	out, err := client.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(table),
		StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewImage}})
	if err != nil {
		t.Fatal(err)
	}
	streamARN := aws.ToString(out.TableDescription.LatestStreamArn)

	store := dynamostore.New(client, table)
	commits, admin := scenario()
	for _, c := range commits {
		if err := store.Commit(ctx, c); err != nil {
			t.Fatalf("commit %s: %v", c.Dedup, err)
		}
	}
	if err := store.AppendAudit(ctx, admin); err != nil {
		t.Fatal(err)
	}

	records := readStream(t, endpoint, streamARN)
	var want []audit.Event
	reqEvents, err := store.AuditEvents(ctx, reqID)
	if err != nil {
		t.Fatal(err)
	}
	adminEvents, err := store.AdminAudit(ctx, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(reqEvents, adminEvents...) {
		want = append(want, audit.FromAudit(e))
	}
	if len(want) != 4 {
		t.Fatalf("the store holds %d audit events, want 4", len(want))
	}

	raw, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	sink := &recorder{name: "local"}
	h := &Handler{Sinks: []audit.Sink{sink}}
	resp, err := h.Handle(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("Handle: %+v, %v", resp, err)
	}
	if diff := cmp.Diff(want, sink.events()); diff != "" {
		t.Errorf("shipped from DynamoDB Local's stream (-store +shipped):\n%s", diff)
	}

	path := filepath.Join("testdata", "stream.json")
	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"Records": records}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	saved := loadEvent(t, "stream.json")
	if len(saved.Records) != len(ev.Records) {
		t.Fatalf("%s has %d records, DynamoDB Local's stream %d; run go test -run TestDynamoDBLocalStream -update", path, len(saved.Records), len(ev.Records))
	}
	for i, got := range ev.Records {
		s := saved.Records[i]
		if got.EventName != s.EventName || itemType(got) != itemType(s) || keyOf(got.Change.Keys) != keyOf(s.Change.Keys) {
			t.Errorf("record %d: %s %s %s, saved %s %s %s", i, got.EventName, itemType(got), keyOf(got.Change.Keys), s.EventName, itemType(s), keyOf(s.Change.Keys))
			continue
		}
		if itemType(got) == dynamostore.TypeDedup {
			continue // its ttl is the time of the write plus DedupTTL
		}
		if diff := cmp.Diff(image(t, s.Change.NewImage), image(t, got.Change.NewImage)); diff != "" {
			t.Errorf("record %d (%s %s): dynamostore writes another item than %s holds; run go test -run TestDynamoDBLocalStream -update (-saved +now):\n%s",
				i, got.EventName, keyOf(got.Change.Keys), path, diff)
		}
	}
}

// image is an item as plain JSON values, for comparing.
func image(t *testing.T, img map[string]events.DynamoDBAttributeValue) any {
	t.Helper()
	b, err := json.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func itemType(r events.DynamoDBEventRecord) string {
	return str(r.Change.NewImage, dynamostore.AttrType)
}

// readStream returns every record of the stream, each as Lambda delivers
// it: the record GetRecords answers, with eventSourceARN added, and
// ApproximateCreationDateTime in whole seconds.
func readStream(t *testing.T, endpoint, streamARN string) []map[string]any {
	t.Helper()
	var desc struct {
		StreamDescription struct {
			Shards []struct{ ShardId string }
		}
	}
	streamsCall(t, endpoint, "DescribeStream", map[string]any{"StreamArn": streamARN}, &desc)
	var out []map[string]any
	for _, sh := range desc.StreamDescription.Shards {
		var it struct{ ShardIterator *string }
		streamsCall(t, endpoint, "GetShardIterator", map[string]any{"StreamArn": streamARN, "ShardId": sh.ShardId, "ShardIteratorType": "TRIM_HORIZON"}, &it)
		for iter := it.ShardIterator; iter != nil; {
			var page struct {
				Records           []map[string]any
				NextShardIterator *string
			}
			streamsCall(t, endpoint, "GetRecords", map[string]any{"ShardIterator": *iter}, &page)
			if len(page.Records) == 0 {
				break
			}
			for _, r := range page.Records {
				r["eventSourceARN"] = streamARN
				if d, ok := r["dynamodb"].(map[string]any); ok {
					if at, ok := d["ApproximateCreationDateTime"].(float64); ok {
						d["ApproximateCreationDateTime"] = int64(at)
					}
				}
				out = append(out, r)
			}
			iter = page.NextShardIterator
		}
	}
	return out
}

// streamsCall calls the DynamoDB Streams API of DynamoDB Local (the module
// has no client for it): JSON 1.0, signed with the dummy credentials.
func streamsCall(t *testing.T, endpoint, op string, in, out any) {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDBStreams_20120810."+op)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: "latchlocal", SecretAccessKey: "latchlocal"}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), "dynamodb", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s: %s", op, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(fmt.Errorf("%s: %w: %s", op, err, b))
	}
}
