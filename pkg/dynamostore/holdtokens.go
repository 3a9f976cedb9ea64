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

	"github.com/latchhq/latch/pkg/latch"
)

// holdToken is the document of a hold token item: the task token of the
// Hold the grant's execution waits in, and the lease end it waits until.
type holdToken struct {
	GrantID string `json:"grant_id"`
	Token   string `json:"token"`
	Until   string `json:"until,omitempty"`
}

// Attributes of a hold token item besides its document.
const (
	// attrHoldAt is when the task that wrote the token started (Unix
	// nanoseconds): the order of token writes.
	attrHoldAt = "hold_at"
	// attrRevokeError is the last error of the grant's revoke, written by
	// the revoke task (bounded by it: sfngrants.MaxRevokeError).
	attrRevokeError = "revoke_error"
)

// PutHoldToken records token as the task token of the Step Functions Hold
// the grant's execution waits in now, waiting until until, written by a task
// that started at at: one UpdateItem in the grant's partition (so the
// revoke error beside it stays), conditioned on no token of a task that
// started later being there (a write that loses is dropped, as
// sfngrants.Tokens asks).
func (s *Store) PutHoldToken(ctx context.Context, grantID, token, until string, at time.Time) error {
	doc, err := marshalDoc(holdToken{GrantID: grantID, Token: token, Until: until})
	if err != nil {
		return fmt.Errorf("put hold token of grant %s: %w", grantID, err)
	}
	nanos := &types.AttributeValueMemberN{Value: strconv.FormatInt(at.UnixNano(), 10)}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: holdTokenKey(grantID).av(),
		UpdateExpression:          aws.String("SET #type = :type, #doc = :doc, #at = :at"),
		ConditionExpression:       aws.String("attribute_not_exists(#at) OR #at <= :at"),
		ExpressionAttributeNames:  map[string]string{"#type": AttrType, "#doc": AttrDoc, "#at": attrHoldAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":type": str(TypeHoldToken), ":doc": doc, ":at": nanos}})
	if _, lost := errors.AsType[*types.ConditionalCheckFailedException](err); lost {
		return nil // a later task's token is there
	}
	if err != nil {
		return fmt.Errorf("put hold token of grant %s: %w", grantID, err)
	}
	return nil
}

// HoldToken returns the grant's current hold token and the lease end its
// Hold waits until, with a consistent read, or an error wrapping
// latch.ErrNotFound when none was recorded.
func (s *Store) HoldToken(ctx context.Context, grantID string) (string, string, error) {
	it, err := s.holdItem(ctx, grantID)
	if err != nil {
		return "", "", err
	}
	if it[AttrDoc] == nil {
		return "", "", fmt.Errorf("hold token of grant %s: %w", grantID, latch.ErrNotFound) // a revoke error only
	}
	var t holdToken
	if err := decode(it, &t); err != nil {
		return "", "", fmt.Errorf("hold token of grant %s: %w: %w", grantID, latch.ErrUndecodable, err)
	}
	return t.Token, t.Until, nil
}

// PutRevokeError records message as the last error of the grant's revoke: one UpdateItem of the hold token item, which
// keeps the token.
func (s *Store) PutRevokeError(ctx context.Context, grantID, message string) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: holdTokenKey(grantID).av(),
		UpdateExpression:          aws.String("SET #type = :type, #err = :err"),
		ExpressionAttributeNames:  map[string]string{"#type": AttrType, "#err": attrRevokeError},
		ExpressionAttributeValues: map[string]types.AttributeValue{":type": str(TypeHoldToken), ":err": str(message)}})
	if err != nil {
		return fmt.Errorf("put revoke error of grant %s: %w", grantID, err)
	}
	return nil
}

// RevokeError returns the last error recorded for the grant's revoke, or an
// error wrapping latch.ErrNotFound when none was. The reconciler puts it in
// the revoke_overdue audit event.
func (s *Store) RevokeError(ctx context.Context, grantID string) (string, error) {
	it, err := s.holdItem(ctx, grantID)
	if err != nil {
		return "", err
	}
	msg, ok := it[attrRevokeError].(*types.AttributeValueMemberS)
	if !ok || msg.Value == "" {
		return "", fmt.Errorf("revoke error of grant %s: %w", grantID, latch.ErrNotFound)
	}
	return msg.Value, nil
}

// holdItem reads the grant's hold token item consistently.
func (s *Store) holdItem(ctx context.Context, grantID string) (map[string]types.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: holdTokenKey(grantID).av(),
		ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("hold token of grant %s: %w", grantID, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("hold token of grant %s: %w", grantID, latch.ErrNotFound)
	}
	return out.Item, nil
}
