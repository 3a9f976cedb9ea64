package dynamostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// keyRange is the items of one index partition whose sort keys are in
// [lo, hi] (both inclusive, as DynamoDB's BETWEEN); all of them when both
// are "".
type keyRange struct {
	partition
	lo, hi string
}

// requestRanges returns the key ranges that together hold exactly the
// requests matching f (but for f.Before's own request, which hi includes):
// one range when f has a status, or has none and filters by nothing but
// time; one per status otherwise. None when f's time range is empty.
func requestRanges(f latch.RequestFilter) []keyRange {
	user := latch.NormalizeEmail(f.User)
	var part partition
	switch {
	case f.Flow != "" && user != "":
		part = partition{IndexFlowRequester, flowRequesterPK(f.Flow, user)}
	case f.Flow != "":
		part = partition{IndexFlow, flowPK(f.Flow)}
	case user != "":
		part = partition{IndexRequester, requesterPK(user)}
	}
	// prefixes are the sort key prefixes of the ranges: the status (its
	// sort keys start with it) or nothing (the status index, whose
	// partition is the status).
	var parts []partition
	var prefixes []string
	switch {
	case part.pk != "" && f.Status != "":
		parts, prefixes = []partition{part}, []string{string(f.Status) + "#"}
	case part.pk != "":
		for _, st := range latch.Statuses {
			parts, prefixes = append(parts, part), append(prefixes, string(st)+"#")
		}
	case f.Status != "":
		parts, prefixes = []partition{{IndexStatus, requestStatusPK(f.Status)}}, []string{""}
	default:
		for _, st := range latch.Statuses {
			parts, prefixes = append(parts, partition{IndexStatus, requestStatusPK(st)}), append(prefixes, "")
		}
	}
	// Times sort as text: every creation time is at or after the zero
	// time's, and every sort key of a prefix is before prefix+"~".
	lo, hi := timeText(f.Since), "~"
	if !f.Until.IsZero() {
		hi = timeText(f.Until)
	}
	if !f.Before.IsZero() {
		hi = min(hi, createdSK(f.Before.CreatedAt, f.Before.ID))
	}
	if lo > hi {
		return nil
	}
	out := make([]keyRange, len(parts))
	for i, p := range parts {
		out[i] = keyRange{p, prefixes[i] + lo, prefixes[i] + hi}
	}
	return out
}

// timeText is t as the sort keys hold it (createdSK without the ID).
func timeText(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// ListRequests returns the requests matching f, newest first (by CreatedAt,
// then ID), at most f.Limit of them (100 when f.Limit is 0). Each
// combination of f's status, flow and requester, with its time range, is a
// key condition on one index partition (or, without a status, one per
// status, merged): it reads the requests it returns, a page of each status
// at most, and filters nothing out of a partition.
func (s *Store) ListRequests(ctx context.Context, f latch.RequestFilter) ([]latch.Request, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	// The match leaves out only f.Before's own request, should a range
	// hold it, and any index entry that disagrees with its document (as
	// one written by an earlier version may).
	out, err := queryRanges(ctx, s, requestRanges(f), false, limit, f.Match)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	slices.SortFunc(out, func(a, b latch.Request) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	return out[:min(len(out), limit)], nil
}

// ReindexRequests gives every stored request the index attributes of this
// version (keys.go), so that the lists find the requests written before
// the indexes changed: the upgrade step for a table written by an earlier
// version (docs/aws.md). A request is written again when Latch changes it,
// so only the ones no change has touched since need it; running it again
// does no harm. It reads the requests by status (a Query of each status's
// partition, no Scan) and updates each request's index attributes
// conditioned on its version, so a request changed meanwhile keeps what
// its change wrote. It returns how many requests it updated.
func (s *Store) ReindexRequests(ctx context.Context) (int, error) {
	var n atomic.Int64
	work := make(chan map[string]types.AttributeValue)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for it := range work {
				updated, err := s.reindex(ctx, it)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				if updated {
					n.Add(1)
				}
			}
		})
	}
	var qerr error
	for _, st := range latch.Statuses {
		p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(IndexStatus.Name),
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": IndexStatus.PartitionKey},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(requestStatusPK(st))},
		})
		for p.HasMorePages() && qerr == nil {
			page, err := p.NextPage(ctx)
			if err != nil {
				qerr = fmt.Errorf("read the %s requests: %w", st, err)
				break
			}
			for _, it := range page.Items {
				work <- it
			}
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		qerr = errors.Join(qerr, err)
	default:
	}
	if qerr != nil {
		return int(n.Load()), fmt.Errorf("reindex requests: %w", qerr)
	}
	return int(n.Load()), nil
}

// reindex sets the index attributes of the request item it, unless they
// are right already or the item changed since it was read. An item that
// cannot be decoded is left as it is.
func (s *Store) reindex(ctx context.Context, it map[string]types.AttributeValue) (bool, error) {
	var r latch.Request
	if err := decode(it, &r); err != nil {
		return false, nil
	}
	want := requestIndexes(r)
	var sets []string
	names := map[string]string{"#version": AttrVersion}
	values := map[string]types.AttributeValue{}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if have, ok := it[name].(*types.AttributeValueMemberS); ok && have.Value == want[name].(*types.AttributeValueMemberS).Value {
			continue
		}
		i := len(sets)
		names[fmt.Sprintf("#a%d", i)] = name
		values[fmt.Sprintf(":v%d", i)] = want[name]
		sets = append(sets, fmt.Sprintf("#a%d = :v%d", i, i))
	}
	if len(sets) == 0 {
		return false, nil
	}
	cond := "attribute_not_exists(#version)"
	if v, ok := it[AttrVersion]; ok {
		cond = "#version = :version"
		values[":version"] = v
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       requestKey(r.ID).av(),
		UpdateExpression:          aws.String("SET " + strings.Join(sets, ", ")),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// Changed since it was read: the change wrote this version's
		// index attributes.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("request %s: %w", r.ID, err)
	}
	return true, nil
}
