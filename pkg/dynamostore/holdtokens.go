package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// holdToken is the document of a hold token item.
type holdToken struct {
	GrantID string `json:"grant_id"`
	Token   string `json:"token"`
}

// attrHoldAt is, on a hold token item, when the task that wrote it started
// (Unix nanoseconds): the order of token writes.
const attrHoldAt = "hold_at"

// PutHoldToken records token as the task token of the Step Functions Hold
// the grant's execution waits in now, written by a task that started at at:
// one PutItem in the grant's partition, conditioned on no token of a task
// that started later being there (a write that loses is dropped, as
// sfngrants.Tokens asks).
func (s *Store) PutHoldToken(ctx context.Context, grantID, token string, at time.Time) error {
	it, err := item(holdTokenKey(grantID), TypeHoldToken, holdToken{GrantID: grantID, Token: token}, 0, nil)
	if err != nil {
		return fmt.Errorf("put hold token of grant %s: %w", grantID, err)
	}
	nanos := &types.AttributeValueMemberN{Value: strconv.FormatInt(at.UnixNano(), 10)}
	it[attrHoldAt] = nanos
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it,
		ConditionExpression:       aws.String("attribute_not_exists(#at) OR #at <= :at"),
		ExpressionAttributeNames:  map[string]string{"#at": attrHoldAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": nanos}})
	if _, lost := errors.AsType[*types.ConditionalCheckFailedException](err); lost {
		return nil // a later task's token is there
	}
	if err != nil {
		return fmt.Errorf("put hold token of grant %s: %w", grantID, err)
	}
	return nil
}

// HoldToken returns the grant's current hold token with a consistent read,
// or an error wrapping latch.ErrNotFound when none was recorded.
func (s *Store) HoldToken(ctx context.Context, grantID string) (string, error) {
	var t holdToken
	if err := s.get(ctx, holdTokenKey(grantID), &t); err != nil {
		return "", fmt.Errorf("hold token of grant %s: %w", grantID, err)
	}
	return t.Token, nil
}
