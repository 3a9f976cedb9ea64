package dynamostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// revokeAttempts is how often RevokeToken tries when the token changes
// between its read and its write.
const revokeAttempts = 3

// CreateToken stores t with one transaction of two puts, each conditioned on
// its item not existing: the token, and the item of its hash that makes the
// hash unique. It returns latch.ErrConflict, and writes nothing, if a token
// with its ID or its Hash exists (or a concurrent transaction touched
// either), and a latch.KindInvalid error if the ID or the Hash is empty.
func (s *Store) CreateToken(ctx context.Context, t latch.Token) error {
	if t.ID == "" || t.Hash == "" {
		return latch.Errorf(latch.KindInvalid, "invalid_token", "A token needs an ID and a hash.")
	}
	t = t.UTC()
	it, err := item(tokenKey(t.ID), TypeToken, t, 0, tokenIndexes(t))
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	hash := tokenHashKey(t.Hash).av()
	hash[AttrType] = str(TypeTokenHash)
	hash[AttrTokenID] = str(t.ID)
	tx := &transaction{dedup: -1}
	tx.add("token "+t.ID, s.conditionalPut(it, 0))
	tx.add("the hash of token "+t.ID, s.conditionalPut(hash, 0))
	if _, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx.items}); err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, tx.explain(err))
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash, or
// latch.ErrNotFound: a consistent read of the hash's item, then of the
// token it names.
func (s *Store) TokenByHash(ctx context.Context, hash string) (latch.Token, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            tokenHashKey(hash).av(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		// The hash stays out of the message: it names a credential.
		return latch.Token{}, fmt.Errorf("token by hash: %w", err)
	}
	id, ok := out.Item[AttrTokenID].(*types.AttributeValueMemberS)
	if !ok {
		return latch.Token{}, fmt.Errorf("token by hash: %w", latch.ErrNotFound)
	}
	t, err := s.GetToken(ctx, id.Value)
	if err != nil {
		return latch.Token{}, fmt.Errorf("token by hash: %w", err)
	}
	return t, nil
}

// GetToken returns the token with the given id, or latch.ErrNotFound.
func (s *Store) GetToken(ctx context.Context, id string) (latch.Token, error) {
	var t latch.Token
	if err := s.get(ctx, tokenKey(id), &t); err != nil {
		return latch.Token{}, fmt.Errorf("get token %s: %w", id, err)
	}
	return t, nil
}

// ListTokens returns every token, revoked and expired ones included, ordered
// by CreatedAt, then ID, merged from the tokens' shards.
func (s *Store) ListTokens(ctx context.Context) ([]latch.Token, error) {
	parts := make([]partition, tokenShards)
	for i := range parts {
		parts[i] = partition{IndexShard, tokensPK(i)}
	}
	out, err := queryAll(ctx, s, parts, true, 0, func(latch.Token) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	slices.SortFunc(out, func(a, b latch.Token) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RevokeToken sets the token's RevokedAt to at, unless it was revoked at or
// before at already: the earliest revocation is kept. It reads the token and
// rewrites its document on condition that the document has not changed,
// reading again when it has. It returns latch.ErrNotFound if there is no
// such token.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	at = at.UTC()
	if err := retry(revokeAttempts, func() error { return s.revokeToken(ctx, id, at) }); err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

func (s *Store) revokeToken(ctx context.Context, id string, at time.Time) error {
	k := tokenKey(id)
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            k.av(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return err
	}
	if out.Item == nil {
		return latch.ErrNotFound
	}
	var t latch.Token
	if err := decode(out.Item, &t); err != nil {
		return err
	}
	if t.RevokedAt != nil && !at.Before(*t.RevokedAt) {
		return nil
	}
	t.RevokedAt = &at
	doc, err := marshalDoc(t)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k.pk, err)
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      k.av(),
		UpdateExpression:         aws.String("SET #doc = :new"),
		ConditionExpression:      aws.String("#doc = :old"),
		ExpressionAttributeNames: map[string]string{"#doc": AttrDoc},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":new": doc, ":old": out.Item[AttrDoc],
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return errRetry
	}
	return err
}
