package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// holdToken is the document of a hold token item.
type holdToken struct {
	GrantID string `json:"grant_id"`
	Token   string `json:"token"`
}

// PutHoldToken records token as the task token of the Step Functions Hold
// the grant's execution waits in now, replacing any earlier one: one
// unconditional PutItem in the grant's partition (sfngrants.Tokens).
func (s *Store) PutHoldToken(ctx context.Context, grantID, token string) error {
	it, err := item(holdTokenKey(grantID), TypeHoldToken, holdToken{GrantID: grantID, Token: token}, 0, nil)
	if err == nil {
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it})
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
