package dynamostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// deleteAttempts is how often DeleteUser tries when a concurrent write to
// the user or one of their identities cancels its transaction.
const deleteAttempts = 3

// DeleteUser removes the user with the given email (compared normalized) and
// their identities. It reads the identities with a consistent Query, then
// deletes them and the user (conditioned on existing) in one transaction,
// retried when a concurrent write cancels it. It returns latch.ErrNotFound,
// and removes nothing, if there is no such user. A user with more than
// MaxItems-1 identities loses the rest after the user, in further
// transactions. An identity put while DeleteUser runs, after its Query, is
// not deleted.
func (s *Store) DeleteUser(ctx context.Context, email string) error {
	email = latch.NormalizeEmail(email)
	err := retry(deleteAttempts, func() error { return s.deleteUser(ctx, email) })
	if err != nil {
		return fmt.Errorf("delete user %s: %w", email, err)
	}
	return nil
}

// errRetry marks a transaction cancelled by a concurrent one.
var errRetry = errors.New("cancelled by a concurrent write")

// retry calls try up to attempts times, while it returns errRetry. An
// errRetry at the last attempt is returned as latch.ErrConflict.
func retry(attempts int, try func() error) error {
	var err error
	for range attempts {
		if err = try(); !errors.Is(err, errRetry) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", err, latch.ErrConflict)
}

func (s *Store) deleteUser(ctx context.Context, email string) error {
	if email == "" {
		return latch.ErrNotFound
	}
	ids, err := s.identitiesOf(ctx, email)
	if err != nil {
		return err
	}
	del := func(k key) types.TransactWriteItem {
		return types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: k.av()}}
	}
	tx := &transaction{dedup: -1}
	tx.add("user "+email, types.TransactWriteItem{Delete: &types.Delete{
		TableName:                aws.String(s.table),
		Key:                      userKey(email).av(),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	}})
	for len(ids) > 0 && len(tx.items) < MaxItems {
		tx.add("identity in "+ids[0].Service, del(identityKey(email, ids[0].Service)))
		ids = ids[1:]
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx.items})
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for i, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed":
				if i == 0 {
					return latch.ErrNotFound
				}
			case "TransactionConflict":
				return fmt.Errorf("%s: %w", tx.what[i], errRetry)
			}
		}
	}
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		tx := &transaction{dedup: -1}
		for len(ids) > 0 && len(tx.items) < MaxItems {
			tx.add("identity in "+ids[0].Service, del(identityKey(email, ids[0].Service)))
			ids = ids[1:]
		}
		if _, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx.items}); err != nil {
			return fmt.Errorf("the user is deleted, but some identities remain: %w", tx.explain(err))
		}
	}
	return nil
}

// GetIdentity returns the identity of the user with the given email
// (compared normalized) in service, or latch.ErrNotFound.
func (s *Store) GetIdentity(ctx context.Context, email, service string) (latch.Identity, error) {
	var id latch.Identity
	if err := s.get(ctx, identityKey(email, service), &id); err != nil {
		return latch.Identity{}, fmt.Errorf("get identity of %s in %s: %w", email, service, err)
	}
	return id, nil
}

// PutIdentity creates or replaces the identity of id.Email in id.Service,
// storing the email normalized. It returns a latch.KindInvalid error if the
// email or the service is empty.
func (s *Store) PutIdentity(ctx context.Context, id latch.Identity) error {
	id.Email = latch.NormalizeEmail(id.Email)
	if id.Email == "" || id.Service == "" {
		return latch.Errorf(latch.KindInvalid, "invalid_identity", "An identity needs an email address and a service.")
	}
	id = id.UTC()
	it, err := item(identityKey(id.Email, id.Service), TypeIdentity, id, 0, identityIndexes(id))
	if err == nil {
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it})
	}
	if err != nil {
		return fmt.Errorf("put identity of %s in %s: %w", id.Email, id.Service, err)
	}
	return nil
}

// DeleteIdentity removes the identity of the user with the given email
// (compared normalized) in service; latch.ErrNotFound if there is none.
func (s *Store) DeleteIdentity(ctx context.Context, email, service string) error {
	if err := s.deleteExisting(ctx, identityKey(email, service)); err != nil {
		return fmt.Errorf("delete identity of %s in %s: %w", email, service, err)
	}
	return nil
}

// ListIdentities returns the identities of the user with the given email
// (compared normalized), ordered by service, with one consistent Query of
// their partition. With email "" it returns every identity, ordered by
// email, then service, merged from the identities' shards of the shard
// index (which may briefly lag behind writes).
func (s *Store) ListIdentities(ctx context.Context, email string) ([]latch.Identity, error) {
	var out []latch.Identity
	var err error
	if email == "" {
		parts := make([]partition, identityShards)
		for i := range parts {
			parts[i] = partition{IndexShard, identitiesPK(i)}
		}
		out, err = queryAll(ctx, s, parts, true, 0, func(latch.Identity) bool { return true })
	} else {
		out, err = s.identitiesOf(ctx, email)
	}
	if err != nil {
		return nil, fmt.Errorf("list identities of %q: %w", email, err)
	}
	slices.SortFunc(out, func(a, b latch.Identity) int {
		return cmp.Or(strings.Compare(a.Email, b.Email), strings.Compare(a.Service, b.Service))
	})
	return out, nil
}

// identitiesOf reads the identities in an email's partition, consistently,
// ordered by service.
func (s *Store) identitiesOf(ctx context.Context, email string) ([]latch.Identity, error) {
	return query(ctx, s.client, &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(identityPK(email)), ":prefix": str(svcPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}, 0, func(latch.Identity) bool { return true })
}

// deleteExisting deletes the item at k, or returns latch.ErrNotFound if
// there is none.
func (s *Store) deleteExisting(ctx context.Context, k key) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      k.av(),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return latch.ErrNotFound
	}
	return err
}
