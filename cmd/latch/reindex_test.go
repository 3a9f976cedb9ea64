package main

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/dynamostore/dynamotest"
	"github.com/latchhq/latch/pkg/latch"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// latch admin reindex runs ReindexRequests on the table it names, through
// the AWS SDK's own configuration (here, DynamoDB Local by
// AWS_ENDPOINT_URL_DYNAMODB); a second run finds nothing to do. Without
// --table it is a usage error.
func TestReindexCommand(t *testing.T) {
	if code, _, errOut := latchCLI(t, "admin", "reindex"); code != exitUsage {
		t.Errorf("latch admin reindex without --table: exit %d (%s), want %d", code, errOut, exitUsage)
	}
	endpoint := dynamotest.Endpoint(t)
	client := dynamotest.NewClient(endpoint)
	table := dynamotest.TableName(t)
	if err := dynamostore.CreateTable(t.Context(), client, table); err != nil {
		t.Fatal(err)
	}
	r := latch.Request{ID: "r1", Flow: "prod-db", Requester: latch.UserRef{Email: "ann@example.com"},
		Status: latch.StatusPending, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := dynamostore.New(client, table).Commit(t.Context(), latch.Change{Requests: []latch.Request{r}}); err != nil {
		t.Fatal(err)
	}
	// As an earlier version wrote it: without the flow_requester index.
	_, err := client.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]ddbtypes.AttributeValue{
			dynamostore.AttrPK: &ddbtypes.AttributeValueMemberS{Value: "REQ#r1"},
			dynamostore.AttrSK: &ddbtypes.AttributeValueMemberS{Value: "REQ"},
		},
		UpdateExpression:         aws.String("REMOVE #pk, #sk"),
		ExpressionAttributeNames: map[string]string{"#pk": dynamostore.IndexFlowRequester.PartitionKey, "#sk": dynamostore.IndexFlowRequester.SortKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "latchlocal")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "latchlocal")
	t.Setenv("AWS_PROFILE", "")
	for _, want := range []string{"1", "0"} {
		code, out, errOut := latchCLI(t, "admin", "reindex", "--table", table)
		if code != exitOK {
			t.Fatalf("latch admin reindex: exit %d, %s", code, errOut)
		}
		if !regexp.MustCompile(`^` + want + ` request\(s\) of \S+ given this version's index attributes\n$`).MatchString(out) {
			t.Errorf("output %q, want the count of requests updated (%s)", out, want)
		}
	}
	if code, _, errOut := latchCLI(t, "admin", "reindex", "--table", "no-such-table"); code == exitOK {
		t.Errorf("latch admin reindex of a missing table: exit 0 (%s)", errOut)
	}
}
