package dynamostore

import (
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

// ListDomains returns the organisation's email domains, ordered by name,
// merged from the domains' shards.
func (s *Store) ListDomains(ctx context.Context) ([]latch.Domain, error) {
	parts := make([]partition, domainShards)
	for i := range parts {
		parts[i] = partition{IndexShard, domainsPK(i)}
	}
	out, err := queryAll(ctx, s, parts, true, 0, func(latch.Domain) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	slices.SortFunc(out, func(a, b latch.Domain) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// PutDomain adds d, its name as given (callers normalize), if it is not
// there: adding a domain that exists changes nothing, and the first
// CreatedAt stays. It returns a latch.KindInvalid error if the name is
// empty.
func (s *Store) PutDomain(ctx context.Context, d latch.Domain) error {
	if d.Name == "" {
		return latch.Errorf(latch.KindInvalid, "invalid_domain", "A domain needs a name.")
	}
	d = d.UTC()
	it, err := item(domainKey(d.Name), TypeDomain, d, 0, domainIndexes(d))
	if err == nil {
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(s.table),
			Item:                     it,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
		})
	}
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("put domain %s: %w", d.Name, err)
	}
	return nil
}

// DeleteDomain removes the domain with the given name; latch.ErrNotFound if
// there is none.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	if err := s.deleteExisting(ctx, domainKey(name)); err != nil {
		return fmt.Errorf("delete domain %s: %w", name, err)
	}
	return nil
}
