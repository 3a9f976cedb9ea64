package dynamostore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/latch"
)

// A table an earlier version wrote holds requests with the index attributes
// of then: flow and requester sort keys without the status, and no
// flow_requester attributes. Their lists by flow, by requester or by both
// miss them until ReindexRequests gives them this version's attributes;
// after it they list as requests written now do. A second run updates
// nothing.
func TestReindexRequestsUpgradesTheItemsOfAnEarlierVersion(t *testing.T) {
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t)
	if err := dynamostore.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(client, table)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var reqs []latch.Request
	for i := range 5 {
		reqs = append(reqs, latch.Request{
			ID: fmt.Sprintf("r%d", i), Flow: []string{"prod-db", "staging"}[i%2],
			Requester: latch.UserRef{Email: "ann@example.com"},
			Status:    []latch.Status{latch.StatusPending, latch.StatusEnded}[i%3/2],
			CreatedAt: t0.Add(time.Duration(i) * time.Minute), UpdatedAt: t0,
		})
	}
	if err := s.Commit(t.Context(), latch.Change{Requests: reqs}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	// Turn r0..r3 into the items of an earlier version; r4 stays as
	// written now.
	for _, r := range reqs[:4] {
		sk := r.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + r.ID
		_, err := client.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
			TableName: aws.String(table),
			Key: map[string]ddbtypes.AttributeValue{
				dynamostore.AttrPK: &ddbtypes.AttributeValueMemberS{Value: "REQ#" + r.ID},
				dynamostore.AttrSK: &ddbtypes.AttributeValueMemberS{Value: "REQ"},
			},
			UpdateExpression: aws.String("SET #f = :sk, #r = :sk REMOVE #frpk, #frsk"),
			ExpressionAttributeNames: map[string]string{
				"#f": dynamostore.IndexFlow.SortKey, "#r": dynamostore.IndexRequester.SortKey,
				"#frpk": dynamostore.IndexFlowRequester.PartitionKey, "#frsk": dynamostore.IndexFlowRequester.SortKey,
			},
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":sk": &ddbtypes.AttributeValueMemberS{Value: sk}},
		})
		if err != nil {
			t.Fatalf("age %s: %v", r.ID, err)
		}
	}
	ids := func(f latch.RequestFilter) []string {
		t.Helper()
		got, err := s.ListRequests(t.Context(), f)
		if err != nil {
			t.Fatalf("ListRequests(%+v): %v", f, err)
		}
		var out []string
		for _, r := range got {
			out = append(out, r.ID)
		}
		return out
	}
	byFlow := latch.RequestFilter{Flow: "prod-db"}
	byFlowAndUser := latch.RequestFilter{Flow: "prod-db", User: "ann@example.com", Status: latch.StatusPending}
	if got := ids(byFlow); !slices.Equal(got, []string{"r4"}) {
		t.Fatalf("before the reindex, flow prod-db lists %v, want only the request written now, r4 (the test's aging did not take)", got)
	}

	n, err := s.ReindexRequests(t.Context())
	if err != nil {
		t.Fatalf("ReindexRequests: %v", err)
	}
	if n != 4 {
		t.Errorf("ReindexRequests updated %d requests, want the 4 of the earlier version", n)
	}
	tests := []struct {
		give latch.RequestFilter
		want []string
	}{
		{byFlow, []string{"r4", "r2", "r0"}},
		{byFlowAndUser, []string{"r4", "r0"}},
		{latch.RequestFilter{User: "ann@example.com", Status: latch.StatusEnded}, []string{"r2"}},
		{latch.RequestFilter{User: "ann@example.com"}, []string{"r4", "r3", "r2", "r1", "r0"}},
	}
	for _, tt := range tests {
		if got := ids(tt.give); !slices.Equal(got, tt.want) {
			t.Errorf("after the reindex, ListRequests(%+v) = %v, want %v", tt.give, got, tt.want)
		}
	}
	if n, err := s.ReindexRequests(t.Context()); err != nil || n != 0 {
		t.Errorf("second ReindexRequests = %d, %v; want 0, nil", n, err)
	}
}
