package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the table's items. Every key attribute is a string.
const (
	// AttrPK and AttrSK are the table's partition and sort key.
	AttrPK = "pk"
	AttrSK = "sk"
	// AttrType names the kind of entity an item holds (one of the Type*
	// constants), for stream consumers and people reading the table.
	AttrType = "type"
	// AttrDoc holds the entity as a native map (items.go); items written
	// by earlier versions hold its JSON in a string, which is read too.
	AttrDoc = "doc"
	// AttrVersion is the entity's version (a number), the subject of
	// Commit's conditions.
	AttrVersion = "version"
	// AttrGrantID is, on an open-grant item, the ID of the open grant.
	AttrGrantID = "grant_id"
	// AttrTokenID is, on a token hash item, the ID of the token.
	AttrTokenID = "token_id"
	// AttrTTL is the time-to-live attribute (seconds since the epoch):
	// DynamoDB deletes an item some time after it. Only dedup markers have
	// it; audit events never do.
	AttrTTL = "ttl"
)

// DirectoryPartitions are the prefixes of the partition keys of the items
// the edge functions (slack, api) write: users, identities, domains, API
// tokens and their hashes, and the admin audit log (events of no request,
// and the items that make their ids unique). The CDK stack lets those
// functions write nothing else (an IAM dynamodb:LeadingKeys condition):
// requests and their audit events, grants, hold tokens, open-grant items,
// the outbox and dedup markers are written by the core functions only.
var DirectoryPartitions = []string{"USER#", "IDENT#", "DOMAIN#", "TOKEN#", "TOKENHASH#", "AUDITLOG#", "AUDITID#"}

// Values of AttrType.
const (
	TypeRequest    = "request"
	TypeGrant      = "grant"
	TypeOpenGrant  = "open_grant"
	TypeAudit      = "audit"
	TypeAuditID    = "audit_id"
	TypeEffect     = "effect"
	TypeUser       = "user"
	TypeIdentity   = "identity"
	TypeDomain     = "domain"
	TypeToken      = "token"
	TypeTokenHash  = "token_hash"
	TypeDedup      = "dedup"
	TypeMessageRef = "message_ref"
	TypeHoldToken  = "hold_token"
	TypeHeldBefore = "held_before"
)

// Index is a global secondary index of the table. Every index projects all
// attributes; its keys are strings.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string
}

// The table's global secondary indexes. Sparse: an item is in an index only
// if it has the index's key attributes.
var (
	// IndexStatus holds requests by status (partition STATUS#<status>) and
	// grants by status (GRANT_STATUS#<status>), sorted by creation time.
	IndexStatus = Index{Name: "status", PartitionKey: "status_pk", SortKey: "status_sk"}
	// IndexFlow holds requests by flow (FLOW#<flow>), sorted by status,
	// then creation time.
	IndexFlow = Index{Name: "flow", PartitionKey: "flow_pk", SortKey: "flow_sk"}
	// IndexRequester holds requests by requester email (REQUESTER#<email>),
	// sorted by status, then creation time.
	IndexRequester = Index{Name: "requester", PartitionKey: "requester_pk", SortKey: "requester_sk"}
	// IndexFlowRequester holds requests by flow and requester email
	// together (FLOW#<flow>#REQUESTER#<email>), sorted by status, then
	// creation time.
	IndexFlowRequester = Index{Name: "flow_requester", PartitionKey: "flow_requester_pk", SortKey: "flow_requester_sk"}
	// IndexShard spreads items that are listed all together over a few
	// partitions: the outbox (OUTBOX#<n>, sorted by creation time), users
	// (USERS#<n>, sorted by email), identities (IDENTS#<n>, sorted by email
	// and service), domains (DOMAINS#<n>, sorted by name) and tokens
	// (TOKENS#<n>, sorted by creation time).
	IndexShard = Index{Name: "shard", PartitionKey: "shard_pk", SortKey: "shard_sk"}
)

// Schema describes a Latch table: what CreateTable creates, and what the
// CDK stack declares.
type Schema struct {
	PartitionKey string
	SortKey      string
	// TTLAttribute is the attribute DynamoDB's time to live reads.
	TTLAttribute string
	Indexes      []Index
}

// TableSchema is the schema of the table the Store uses. Billing is on
// demand (PAY_PER_REQUEST).
var TableSchema = Schema{
	PartitionKey: AttrPK,
	SortKey:      AttrSK,
	TTLAttribute: AttrTTL,
	Indexes:      []Index{IndexStatus, IndexFlow, IndexRequester, IndexShard, IndexFlowRequester},
}

// CreateTable creates a table with TableSchema, on-demand billing and time
// to live, and waits until it is active. It is for local use and tests; on
// AWS the CDK stack creates the table.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	sc := TableSchema
	attrs := []types.AttributeDefinition{
		{AttributeName: aws.String(sc.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
		{AttributeName: aws.String(sc.SortKey), AttributeType: types.ScalarAttributeTypeS},
	}
	var gsis []types.GlobalSecondaryIndex
	for _, ix := range sc.Indexes {
		attrs = append(attrs,
			types.AttributeDefinition{AttributeName: aws.String(ix.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
			types.AttributeDefinition{AttributeName: aws.String(ix.SortKey), AttributeType: types.ScalarAttributeTypeS})
		gsis = append(gsis, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(ix.PartitionKey), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(ix.SortKey), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: attrs,
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(sc.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sc.SortKey), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: gsis,
		BillingMode:            types.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 5*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 5*time.Minute); err != nil {
		return fmt.Errorf("create table %s: wait until active: %w", table, err)
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(sc.TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("create table %s: enable time to live: %w", table, err)
	}
	return nil
}
