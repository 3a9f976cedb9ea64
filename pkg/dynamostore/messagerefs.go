package dynamostore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// PutMessageRef creates or replaces the ref of the message about
// ref.RequestID of ref.Kind in ref.Channel: one unconditional PutItem in the
// request's partition, without a TTL. It returns a latch.KindInvalid error,
// and writes nothing, if the request ID, the kind, the channel or the TS is
// empty.
func (s *Store) PutMessageRef(ctx context.Context, ref latch.MessageRef) error {
	if ref.RequestID == "" || ref.Kind == "" || ref.Channel == "" || ref.TS == "" {
		return latch.Errorf(latch.KindInvalid, "invalid_message_ref",
			"A message ref needs a request ID, a kind, a channel and the message's TS.")
	}
	ref.PostedAt = ref.PostedAt.UTC()
	it, err := item(messageRefKey(ref.RequestID, ref.Kind, ref.Channel), TypeMessageRef, ref, 0, nil)
	if err == nil {
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it})
	}
	if err != nil {
		return fmt.Errorf("put message ref of %s (%s in %s): %w", ref.RequestID, ref.Kind, ref.Channel, err)
	}
	return nil
}

// MessageRefs returns the refs of the messages about the request with the
// given id, ordered by kind, then channel, with one consistent Query of the
// request's partition. None is not an error.
func (s *Store) MessageRefs(ctx context.Context, requestID string) ([]latch.MessageRef, error) {
	out, err := query(ctx, s.client, &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(requestPK(requestID)), ":prefix": str(msgPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}, 0, func(latch.MessageRef) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("message refs of %s: %w", requestID, err)
	}
	// The escaped kind and the '#' after it do not sort as the kind alone.
	slices.SortFunc(out, func(a, b latch.MessageRef) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Channel, b.Channel))
	})
	return out, nil
}
