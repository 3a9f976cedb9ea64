package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// MaxItems is the most items one Commit may write: DynamoDB's limit on the
// actions of one transaction. A change writes one item per request, grant,
// audit event and effect, one for its dedup key, one per grant key that has
// an open grant among the change's grants, and one per grant the change
// closes while it holds its key.
const MaxItems = 100

// DedupTTL is how long a dedup marker is kept. DynamoDB deletes it some time
// after; a command delivered again after that long acts again.
const DedupTTL = 30 * 24 * time.Hour

// ErrTooLarge is returned (wrapped, with the count) by Commit for a change
// of more than MaxItems items.
var ErrTooLarge = &latch.Error{Kind: latch.KindInternal, Code: "change_too_large",
	Message: "The change is too large to write at once."}

// Commit writes c in one TransactWriteItems call: every request and grant at
// its given version plus one, the audit events, the outbox effects and a
// dedup marker for c.Dedup. It returns latch.ErrDuplicate if c.Dedup was
// committed before (this wins over any other failed condition, so a
// replayed change reports a duplicate); latch.ErrConflict if a request or
// grant is not at the version given (or, for version 0, exists), if an
// audit event's ID exists, if an open grant would share its key with
// another open grant, or if a concurrent transaction touched the same
// items; ErrTooLarge for more than MaxItems items; and a latch.KindInvalid
// error if c names one item twice or has an empty ID. On error nothing is
// written. A change without Dedup is not deduplicated; one with only Dedup
// records the marker.
//
// A grant's Key must never change. Closing a grant that was read at a
// version first reads the stored grant, to learn whether it holds its key.
func (s *Store) Commit(ctx context.Context, c latch.Change) error {
	if err := checkChange(c); err != nil {
		return fmt.Errorf("commit %s: %w", c.Dedup, err)
	}
	if c.Dedup == "" && c.Empty() {
		return nil
	}
	tx, err := s.transaction(ctx, c)
	if err != nil {
		return fmt.Errorf("commit %s: %w", c.Dedup, err)
	}
	if len(tx.items) > MaxItems {
		return fmt.Errorf("commit %s: %d items (%d requests, %d grants, %d audit events, %d effects), more than the %d of one DynamoDB transaction: %w",
			c.Dedup, len(tx.items), len(c.Requests), len(c.Grants), len(c.Audit), len(c.Effects), MaxItems, ErrTooLarge)
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx.items})
	if err != nil {
		return fmt.Errorf("commit %s: %w", c.Dedup, tx.explain(err))
	}
	return nil
}

// transaction is a change as TransactWriteItems actions, with what each
// action is for, to explain a cancellation.
type transaction struct {
	items []types.TransactWriteItem
	what  []string
	dedup int // the index of the dedup marker's action, or -1
}

func (t *transaction) add(what string, it types.TransactWriteItem) {
	t.items = append(t.items, it)
	t.what = append(t.what, what)
}

// explain maps a TransactWriteItems error to latch.ErrDuplicate or
// latch.ErrConflict where the cancellation reasons say so, naming the
// failed items.
func (t *transaction) explain(err error) error {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return err
	}
	var failed []string
	conflict := false
	for i, r := range tce.CancellationReasons {
		code := aws.ToString(r.Code)
		switch code {
		case "", "None":
			continue
		case "ConditionalCheckFailed":
			if i == t.dedup {
				return latch.ErrDuplicate
			}
			conflict = true
		case "TransactionConflict":
			conflict = true
		}
		if i < len(t.what) {
			failed = append(failed, fmt.Sprintf("%s (%s)", t.what[i], code))
		}
	}
	if conflict {
		return fmt.Errorf("%s: %w", strings.Join(failed, ", "), latch.ErrConflict)
	}
	return err
}

// transaction builds the actions of c.
func (s *Store) transaction(ctx context.Context, c latch.Change) (*transaction, error) {
	tx := &transaction{dedup: -1}
	if c.Dedup != "" {
		tx.dedup = len(tx.items)
		it := dedupKey(c.Dedup).av()
		it[AttrType] = str(TypeDedup)
		it[AttrTTL] = num(time.Now().Add(DedupTTL).Unix())
		tx.add("dedup marker "+c.Dedup, s.conditionalPut(it, 0))
	}
	for _, r := range c.Requests {
		r = r.UTC()
		read := r.Version
		r.Version++
		it, err := item(requestKey(r.ID), TypeRequest, r, r.Version, requestIndexes(r))
		if err != nil {
			return nil, err
		}
		tx.add("request "+r.ID, s.conditionalPut(it, read))
	}
	if err := s.grants(ctx, tx, c.Grants); err != nil {
		return nil, err
	}
	for _, e := range c.Audit {
		e = e.UTC()
		it, err := item(auditKey(e.RequestID, e.ID), TypeAudit, e, 0, nil)
		if err != nil {
			return nil, err
		}
		tx.add("audit event "+e.ID, s.conditionalPut(it, 0))
	}
	for _, e := range c.Effects {
		e = e.UTC()
		it, err := item(effectKey(e.ID), TypeEffect, e, 0, effectIndexes(e))
		if err != nil {
			return nil, err
		}
		tx.add("effect "+e.ID, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: it}})
	}
	return tx, nil
}

// grants adds the grants' actions: each grant, conditioned on its version;
// for each key that has an open grant after the change, its open-grant item,
// which must be absent or name one of the change's grants; and for each
// grant that closes while holding its key, the deletion of its open-grant
// item.
func (s *Store) grants(ctx context.Context, tx *transaction, grants []latch.Grant) error {
	openByKey := map[string]string{} // key → the grant open after the change
	for _, g := range grants {
		if !g.Status.Open() {
			continue
		}
		if other, ok := openByKey[g.Key]; ok {
			return fmt.Errorf("grants %s and %s would both be open for key %s: %w", other, g.ID, g.Key, latch.ErrConflict)
		}
		openByKey[g.Key] = g.ID
	}

	names := map[string]string{"#pk": AttrPK, "#gid": AttrGrantID}
	values := map[string]types.AttributeValue{}
	var in []string
	for i, g := range grants {
		v := fmt.Sprintf(":g%d", i)
		values[v] = str(g.ID)
		in = append(in, v)
	}
	holderIsOurs := "attribute_not_exists(#pk) OR #gid IN (" + strings.Join(in, ", ") + ")"

	for _, g := range grants {
		g = g.UTC()
		read := g.Version
		g.Version++
		it, err := item(grantKey(g.ID), TypeGrant, g, g.Version, grantIndexes(g))
		if err != nil {
			return err
		}
		tx.add("grant "+g.ID, s.conditionalPut(it, read))

		if _, taken := openByKey[g.Key]; g.Status.Open() || taken || read == 0 {
			continue
		}
		// g closes (or stays closed) and no grant of the change takes its
		// key: release the key if the stored grant holds it.
		var stored latch.Grant
		switch err := s.get(ctx, grantKey(g.ID), &stored); {
		case errors.Is(err, latch.ErrNotFound):
			continue // the grant's condition fails the transaction
		case err != nil:
			return fmt.Errorf("read grant %s: %w", g.ID, err)
		}
		if stored.Version != read || !stored.Status.Open() {
			continue // a stale version fails the transaction; a closed grant holds no key
		}
		tx.add("open grant of "+stored.Key, types.TransactWriteItem{Delete: &types.Delete{
			TableName:                 aws.String(s.table),
			Key:                       openGrantKey(stored.Key).av(),
			ConditionExpression:       aws.String("#gid = :gid"),
			ExpressionAttributeNames:  map[string]string{"#gid": AttrGrantID},
			ExpressionAttributeValues: map[string]types.AttributeValue{":gid": str(g.ID)},
		}})
	}

	for k, id := range openByKey {
		it := openGrantKey(k).av()
		it[AttrType] = str(TypeOpenGrant)
		it[AttrGrantID] = str(id)
		tx.add("open grant of "+k, types.TransactWriteItem{Put: &types.Put{
			TableName:                 aws.String(s.table),
			Item:                      it,
			ConditionExpression:       aws.String(holderIsOurs),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}})
	}
	return nil
}

// conditionalPut puts it if the stored item is at version read (0: absent).
func (s *Store) conditionalPut(it map[string]types.AttributeValue, read int64) types.TransactWriteItem {
	cond, names, values := versionCondition(read)
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                 aws.String(s.table),
		Item:                      it,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}
}

// checkChange rejects changes that name an item twice (one transaction may
// not touch an item twice) or have an empty ID.
func checkChange(c latch.Change) error {
	if err := unique("request", c.Requests, func(r latch.Request) string { return r.ID }); err != nil {
		return err
	}
	if err := unique("grant", c.Grants, func(g latch.Grant) string { return g.ID }); err != nil {
		return err
	}
	if err := unique("audit event", c.Audit, func(e latch.AuditEvent) string { return e.RequestID + "\x00" + e.ID }); err != nil {
		return err
	}
	if err := unique("effect", c.Effects, func(e latch.Effect) string { return e.ID }); err != nil {
		return err
	}
	for _, g := range c.Grants {
		if g.Key == "" {
			return latch.Errorf(latch.KindInvalid, "invalid_grant", "Grant %q has no key.", g.ID)
		}
	}
	for _, e := range c.Audit {
		if e.RequestID == "" {
			return latch.Errorf(latch.KindInvalid, "invalid_audit_event", "Audit event %q names no request.", e.ID)
		}
	}
	return nil
}

func unique[T any](what string, items []T, id func(T) string) error {
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		k := id(it)
		if k == "" || strings.HasSuffix(k, "\x00") {
			return latch.Errorf(latch.KindInvalid, "invalid_id", "A %s has an empty ID.", what)
		}
		if seen[k] {
			return latch.Errorf(latch.KindInvalid, "duplicate_in_change", "The %s %q appears twice in one change.", what, k)
		}
		seen[k] = true
	}
	return nil
}
