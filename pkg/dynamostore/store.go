// Package dynamostore is the latch.Store on AWS: one DynamoDB table holding
// requests, grants, audit events, the outbox, users, their identities, the
// organisation's domains, API tokens, dedup markers and the refs of chat
// messages posted about requests.
//
// Each entity is an item with its document (AttrDoc, a native DynamoDB map
// of the storage structs in items.go), its version
// (AttrVersion) and the key and index attributes built in keys.go; schema.go
// describes the table for CreateTable and the CDK stack. Commit is one
// TransactWriteItems call whose conditions make it all-or-nothing: versions,
// a dedup marker, and an open-grant item per grant key that allows one open
// grant per key.
//
// Reads of one item, of a request's audit log or message refs, of the admin
// audit log (events of no request) and of one user's identities are
// strongly consistent. Other lists (ListRequests, ListGrants,
// PendingEffects, ListUsers, ListIdentities of every user, ListDomains,
// ListTokens) read global secondary indexes, which DynamoDB updates a moment
// after a write: a list may briefly miss a new item or show an old state,
// and PendingEffects may return an effect just marked done. Effects are
// carried out at least once. An item whose document cannot be decoded is
// left out of every list with an ERROR log naming its key, so that one bad
// item blocks neither a list nor the reconciler; reading it by its key
// returns the error.
package dynamostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// defaultLimit is the number of requests and effects a list returns when no
// limit is given.
const defaultLimit = 100

// Store is a latch.Store in one DynamoDB table. It is safe for concurrent
// use.
type Store struct {
	client *dynamodb.Client
	table  string
}

var _ latch.Store = (*Store)(nil)

// New returns a Store on the given table, which must exist with
// TableSchema (see CreateTable).
func New(client *dynamodb.Client, table string) *Store {
	return &Store{client: client, table: table}
}

// Close does nothing: the client holds no resources of its own.
func (s *Store) Close() error { return nil }

// GetRequest returns the request with the given id, or latch.ErrNotFound.
func (s *Store) GetRequest(ctx context.Context, id string) (latch.Request, error) {
	var r latch.Request
	if err := s.get(ctx, requestKey(id), &r); err != nil {
		return latch.Request{}, fmt.Errorf("get request %s: %w", id, err)
	}
	return r, nil
}

// GetGrant returns the grant with the given id, or latch.ErrNotFound.
func (s *Store) GetGrant(ctx context.Context, id string) (latch.Grant, error) {
	var g latch.Grant
	if err := s.get(ctx, grantKey(id), &g); err != nil {
		return latch.Grant{}, fmt.Errorf("get grant %s: %w", id, err)
	}
	return g, nil
}

// OpenGrant returns the open (escalating, active or deescalating) grant for
// key, or latch.ErrNotFound. The open-grant item and the grant are two
// consistent reads; should commits keep replacing the key's grant between
// them, it gives up after three tries with latch.ErrConflict.
func (s *Store) OpenGrant(ctx context.Context, key string) (latch.Grant, error) {
	prev := ""
	for range 3 {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.table),
			Key:            openGrantKey(key).av(),
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return latch.Grant{}, fmt.Errorf("open grant for %s: %w", key, err)
		}
		id, ok := out.Item[AttrGrantID].(*types.AttributeValueMemberS)
		if !ok || id.Value == prev {
			// No open grant, or one that has not changed but is not open:
			// the key is free.
			return latch.Grant{}, fmt.Errorf("open grant for %s: %w", key, latch.ErrNotFound)
		}
		g, err := s.GetGrant(ctx, id.Value)
		if err != nil && !errors.Is(err, latch.ErrNotFound) {
			return latch.Grant{}, fmt.Errorf("open grant for %s: %w", key, err)
		}
		if err == nil && g.Status.Open() && g.Key == key {
			return g, nil
		}
		prev = id.Value
	}
	return latch.Grant{}, fmt.Errorf("open grant for %s: it keeps changing: %w", key, latch.ErrConflict)
}

// ListGrants returns the grants in any of the given statuses, ordered by ID;
// with no status, every grant.
func (s *Store) ListGrants(ctx context.Context, statuses ...latch.GrantStatus) ([]latch.Grant, error) {
	if len(statuses) == 0 {
		statuses = latch.GrantStatuses
	}
	var parts []partition
	for _, st := range statuses {
		p := partition{IndexStatus, grantStatusPK(st)}
		if !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	out, err := queryAll(ctx, s, parts, true, 0, func(latch.Grant) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	slices.SortFunc(out, func(a, b latch.Grant) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// AuditEvents returns a request's audit events ordered by Seq (then ID); none
// for a request without events.
func (s *Store) AuditEvents(ctx context.Context, requestID string) ([]latch.AuditEvent, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": AttrPK, "#sk": AttrSK,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(requestPK(requestID)), ":prefix": str(auditPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	out, err := query(ctx, s.client, in, 0, func(latch.AuditEvent) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("audit events of %s: %w", requestID, err)
	}
	slices.SortFunc(out, func(a, b latch.AuditEvent) int {
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// PendingEffects returns up to limit (100 when limit is 0) outbox effects,
// oldest first (by CreatedAt, then ID), merged from the outbox's shards.
func (s *Store) PendingEffects(ctx context.Context, limit int) ([]latch.Effect, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	parts := make([]partition, outboxShards)
	for i := range parts {
		parts[i] = partition{IndexShard, outboxPK(i)}
	}
	out, err := queryAll(ctx, s, parts, true, limit, func(latch.Effect) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("pending effects: %w", err)
	}
	slices.SortFunc(out, func(a, b latch.Effect) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out[:min(len(out), limit)], nil
}

// EffectDone removes the effect from the outbox. Removing one that is not
// there returns nil.
func (s *Store) EffectDone(ctx context.Context, id string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       effectKey(id).av(),
	})
	if err != nil {
		return fmt.Errorf("effect %s done: %w", id, err)
	}
	return nil
}

// GetUser returns the user with the given email (compared normalized), or
// latch.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, email string) (latch.User, error) {
	var u latch.User
	if err := s.get(ctx, userKey(email), &u); err != nil {
		return latch.User{}, fmt.Errorf("get user %s: %w", email, err)
	}
	return u, nil
}

// PutUser creates u (u.Version 0) or updates it (u.Version is the version
// read), storing its email normalized and its version bumped by one. It
// returns latch.ErrConflict if the stored version differs (or, for version
// 0, the user exists) and a latch.KindInvalid error if the email is empty.
func (s *Store) PutUser(ctx context.Context, u latch.User) error {
	u.Email = latch.NormalizeEmail(u.Email)
	if u.Email == "" {
		return latch.Errorf(latch.KindInvalid, "missing_email", "A user needs an email address.")
	}
	u = u.UTC()
	read := u.Version
	u.Version++
	it, err := item(userKey(u.Email), TypeUser, u, u.Version, userIndexes(u))
	if err != nil {
		return fmt.Errorf("put user %s: %w", u.Email, err)
	}
	cond, names, values := versionCondition(read)
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      it,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		err = fmt.Errorf("not at version %d: %w", read, latch.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("put user %s: %w", u.Email, err)
	}
	return nil
}

// ListUsers returns every user, ordered by email, merged from the users'
// shards.
func (s *Store) ListUsers(ctx context.Context) ([]latch.User, error) {
	parts := make([]partition, userShards)
	for i := range parts {
		parts[i] = partition{IndexShard, usersPK(i)}
	}
	out, err := queryAll(ctx, s, parts, true, 0, func(latch.User) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	slices.SortFunc(out, func(a, b latch.User) int { return strings.Compare(a.Email, b.Email) })
	return out, nil
}

// get reads the item at k, strongly consistent, and decodes its document
// into v, or returns latch.ErrNotFound.
func (s *Store) get(ctx context.Context, k key, v any) error {
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
	if err := decode(out.Item, v); err != nil {
		return fmt.Errorf("%w: %w", latch.ErrUndecodable, err)
	}
	return nil
}

// partition is one partition of an index.
type partition struct {
	index Index
	pk    string
}

// queryAll queries the partitions concurrently, in sort-key order
// (ascending or not) and returns the matching items of all of them, up to
// limit from each (0: all).
func queryAll[T any](ctx context.Context, s *Store, parts []partition, ascending bool, limit int, match func(T) bool) ([]T, error) {
	ranges := make([]keyRange, len(parts))
	for i, p := range parts {
		ranges[i] = keyRange{partition: p}
	}
	return queryRanges(ctx, s, ranges, ascending, limit, match)
}

// queryRanges is queryAll of key ranges: each range's partition, within
// its sort key bounds when it has them.
func queryRanges[T any](ctx context.Context, s *Store, ranges []keyRange, ascending bool, limit int, match func(T) bool) ([]T, error) {
	results := make([][]T, len(ranges))
	errs := make([]error, len(ranges))
	var wg sync.WaitGroup
	for i, r := range ranges {
		wg.Go(func() {
			in := &dynamodb.QueryInput{
				TableName:                 aws.String(s.table),
				IndexName:                 aws.String(r.index.Name),
				KeyConditionExpression:    aws.String("#pk = :pk"),
				ExpressionAttributeNames:  map[string]string{"#pk": r.index.PartitionKey},
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(r.pk)},
				ScanIndexForward:          aws.Bool(ascending),
			}
			if r.lo != "" || r.hi != "" {
				in.KeyConditionExpression = aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi")
				in.ExpressionAttributeNames["#sk"] = r.index.SortKey
				in.ExpressionAttributeValues[":lo"], in.ExpressionAttributeValues[":hi"] = str(r.lo), str(r.hi)
			}
			results[i], errs[i] = query(ctx, s.client, in, limit, match)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(results...), nil
}

// query runs in page by page and returns the decoded items that match, up
// to limit (0: all).
func query[T any](ctx context.Context, client *dynamodb.Client, in *dynamodb.QueryInput, limit int, match func(T) bool) ([]T, error) {
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	var out []T
	p := dynamodb.NewQueryPaginator(client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			var v T
			if err := decode(it, &v); err != nil {
				// One item that cannot be read must not hide the others
				// from a list, nor stop the reconciler: it is left out,
				// loudly.
				slog.ErrorContext(ctx, "dynamostore: an item that cannot be decoded is left out of a list",
					"pk", pkOf(it), "sk", skOf(it), "error", err)
				continue
			}
			if match(v) {
				out = append(out, v)
				if limit > 0 && len(out) == limit {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

// item is the table item for an entity: its key, type, document (a native
// map, see items.go), version (when not 0) and index attributes.
func item(k key, typ string, doc any, version int64, indexes map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	av, err := marshalDoc(doc)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", k.pk, err)
	}
	it := k.av()
	it[AttrType] = str(typ)
	it[AttrDoc] = av
	if version != 0 {
		it[AttrVersion] = num(version)
	}
	for name, v := range indexes {
		it[name] = v
	}
	return it, nil
}

// decode decodes an item's document into v.
func decode(it map[string]types.AttributeValue, v any) error { return decodeDoc(it, v) }

// pkOf returns an item's partition key, for messages.
func pkOf(it map[string]types.AttributeValue) string {
	if pk, ok := it[AttrPK].(*types.AttributeValueMemberS); ok {
		return pk.Value
	}
	return "?"
}

// skOf returns an item's sort key, for messages.
func skOf(it map[string]types.AttributeValue) string {
	if sk, ok := it[AttrSK].(*types.AttributeValueMemberS); ok {
		return sk.Value
	}
	return "?"
}

func num(n int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(n)} }

// versionCondition is the condition for writing an item read at version
// (0: it must not exist).
func versionCondition(version int64) (string, map[string]string, map[string]types.AttributeValue) {
	if version == 0 {
		return "attribute_not_exists(#pk)", map[string]string{"#pk": AttrPK}, nil
	}
	return "#version = :version", map[string]string{"#version": AttrVersion},
		map[string]types.AttributeValue{":version": num(version)}
}
