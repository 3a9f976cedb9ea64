package dynamostore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// MaxAppend is the most events one AppendAudit may write: each is two items
// of one transaction.
const MaxAppend = MaxItems / 2

// AppendAudit writes events that belong to no request in one
// TransactWriteItems call: for each, the event in the partition of its UTC
// month and an item of its ID, both conditioned on not existing. The
// DynamoDB stream carries the events (type TypeAudit) to audit
// destinations. It returns a latch.KindInvalid error if an event has no ID
// or has a RequestID; latch.ErrConflict if an ID exists (or a concurrent
// transaction touched the same items), or appears twice among events; and
// ErrTooLarge for more than MaxAppend events. On error nothing is written.
func (s *Store) AppendAudit(ctx context.Context, events ...latch.AuditEvent) error {
	seen := make(map[string]bool, len(events))
	for _, e := range events {
		if e.ID == "" {
			return latch.Errorf(latch.KindInvalid, "invalid_id", "An audit event has no ID.")
		}
		if e.RequestID != "" {
			return latch.Errorf(latch.KindInvalid, "invalid_audit_event",
				"Audit event %q names request %q; append only events of no request.", e.ID, e.RequestID)
		}
		if seen[e.ID] {
			return fmt.Errorf("append audit: event %s appears twice: %w", e.ID, latch.ErrConflict)
		}
		seen[e.ID] = true
	}
	if len(events) == 0 {
		return nil
	}
	if len(events) > MaxAppend {
		return fmt.Errorf("append audit: %d events, more than the %d of one DynamoDB transaction: %w", len(events), MaxAppend, ErrTooLarge)
	}
	tx := &transaction{dedup: -1}
	for _, e := range events {
		e = e.UTC()
		it, err := item(adminAuditKey(e), TypeAudit, e, 0, nil)
		if err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		id := auditIDKey(e.ID).av()
		id[AttrType] = str(TypeAuditID)
		tx.add("audit event "+e.ID, s.conditionalPut(it, 0))
		tx.add("the ID of audit event "+e.ID, s.conditionalPut(id, 0))
	}
	if _, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx.items}); err != nil {
		return fmt.Errorf("append audit: %w", tx.explain(err))
	}
	return nil
}

// AdminAudit returns the events written with AppendAudit whose At is in
// [from, to), ordered by At then ID: one consistent Query, on the sort-key
// range, of each UTC month's partition in the range (so a range of many
// years costs many queries).
func (s *Store) AdminAudit(ctx context.Context, from, to time.Time) ([]latch.AuditEvent, error) {
	var out []latch.AuditEvent
	for _, pk := range adminAuditPKs(from, to) {
		in := &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :from AND :to"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				// An event's sort key is <at>#<id> with a non-empty ID, so
				// none equals <to>#: BETWEEN stops before the events at to.
				":pk": str(pk), ":from": str(createdSK(from, "")), ":to": str(createdSK(to, "")),
			},
			ConsistentRead: aws.Bool(true),
		}
		evs, err := query(ctx, s.client, in, 0, func(latch.AuditEvent) bool { return true })
		if err != nil {
			return nil, fmt.Errorf("admin audit from %s to %s: %s: %w",
				from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), pk, err)
		}
		out = append(out, evs...)
	}
	slices.SortFunc(out, func(a, b latch.AuditEvent) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}
