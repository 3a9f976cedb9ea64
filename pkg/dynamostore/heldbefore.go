package dynamostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// heldBefore is the document of a held-before record.
type heldBefore struct {
	GrantID string `json:"grant_id"`
	Held    bool   `json:"held"`
}

// RecordHeldBefore records whether the target held grant grantID's access
// before Latch's first attempt to grant it, unless a record is there
// already, and returns the recorded answer: the first writer's. One PutItem
// in the grant's partition conditioned on the item not existing; when it
// does, a consistent read of it. It implements sfngrants.HeldRecords.
func (s *Store) RecordHeldBefore(ctx context.Context, grantID string, held bool) (bool, error) {
	it, err := item(heldBeforeKey(grantID), TypeHeldBefore, heldBefore{GrantID: grantID, Held: held}, 0, nil)
	if err != nil {
		return false, fmt.Errorf("record held-before of grant %s: %w", grantID, err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK}})
	if _, lost := errors.AsType[*types.ConditionalCheckFailedException](err); lost {
		return s.HeldBefore(ctx, grantID) // recorded before: that answer stands
	}
	if err != nil {
		return false, fmt.Errorf("record held-before of grant %s: %w", grantID, err)
	}
	return held, nil
}

// HeldBefore returns what RecordHeldBefore recorded for the grant, with a
// consistent read, or an error wrapping latch.ErrNotFound when nothing was.
func (s *Store) HeldBefore(ctx context.Context, grantID string) (bool, error) {
	var h heldBefore
	if err := s.get(ctx, heldBeforeKey(grantID), &h); err != nil {
		return false, fmt.Errorf("held-before of grant %s: %w", grantID, err)
	}
	return h.Held, nil
}
