package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"
	"github.com/latchhq/latch/pkg/dynamostore"
)

// table is Latch's single DynamoDB table, as dynamostore.TableSchema
// describes it (keys, indexes, time to live): the schema is not repeated
// here.
type table struct {
	Table awsdynamodb.Table
}

func newTable(stack awscdk.Stack) *table {
	sc := dynamostore.TableSchema
	str := func(name string) *awsdynamodb.Attribute {
		return &awsdynamodb.Attribute{Name: jsii.String(name), Type: awsdynamodb.AttributeType_STRING}
	}
	t := awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: str(sc.PartitionKey),
		SortKey:      str(sc.SortKey),
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(true),
		// The table holds the audit log: deleting the stack keeps it.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		// The audit shipper reads new audit events from the stream; events
		// are never updated, so the new image is all it needs.
		Stream: awsdynamodb.StreamViewType_NEW_IMAGE,
		// Only dedup markers carry the attribute; audit events never do.
		TimeToLiveAttribute: jsii.String(sc.TTLAttribute),
	})
	for _, ix := range sc.Indexes {
		t.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   str(ix.PartitionKey),
			SortKey:        str(ix.SortKey),
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}
	return &table{Table: t}
}
