package dynamostore

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// Every key and index value of the table is built here, and nowhere else.
//
//	item             pk                    sk
//	request          REQ#<id>              REQ
//	audit event      REQ#<request id>      AUDIT#<event id>
//	grant            GRANT#<id>            GRANT
//	open grant       GKEY#<grant key>      GKEY            (grant_id: the open grant)
//	outbox effect    EFFECT#<id>           EFFECT
//	user             USER#<email>          USER
//	dedup marker     DEDUP#<dedup key>     DEDUP           (ttl: 30 days)
//
//	index      item      partition                 sort
//	status     request   STATUS#<status>           <created>#<id>
//	status     grant     GRANT_STATUS#<status>     <created>#<id>
//	flow       request   FLOW#<flow>               <created>#<id>
//	requester  request   REQUESTER#<email>         <created>#<id>
//	shard      effect    OUTBOX#<0..7>             <created>#<id>
//	shard      user      USERS#<0..3>              <email>
//
// <created> is the creation time in UTC with nine fractional digits, so
// text order is time order. An audit event lives in its request's
// partition, so reading a request's log is one consistent Query.

// Shard counts. Changing one moves items between partitions: existing
// items must be rewritten.
const (
	outboxShards = 8
	userShards   = 4
)

const (
	skRequest   = "REQ"
	skGrant     = "GRANT"
	skOpenGrant = "GKEY"
	skEffect    = "EFFECT"
	skUser      = "USER"
	skDedup     = "DEDUP"
	auditPrefix = "AUDIT#"
)

// key is an item's primary key.
type key struct{ pk, sk string }

func (k key) av() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: str(k.pk), AttrSK: str(k.sk)}
}

func requestKey(id string) key              { return key{"REQ#" + id, skRequest} }
func auditKey(requestID, id string) key     { return key{"REQ#" + requestID, auditPrefix + id} }
func grantKey(id string) key                { return key{"GRANT#" + id, skGrant} }
func openGrantKey(grantKey string) key      { return key{"GKEY#" + grantKey, skOpenGrant} }
func effectKey(id string) key               { return key{"EFFECT#" + id, skEffect} }
func userKey(email string) key              { return key{"USER#" + latch.NormalizeEmail(email), skUser} }
func dedupKey(dedup string) key             { return key{"DEDUP#" + dedup, skDedup} }
func requestStatusPK(s latch.Status) string { return "STATUS#" + string(s) }
func grantStatusPK(s latch.GrantStatus) string {
	return "GRANT_STATUS#" + string(s)
}
func flowPK(flow string) string       { return "FLOW#" + flow }
func requesterPK(email string) string { return "REQUESTER#" + latch.NormalizeEmail(email) }
func outboxPK(shard int) string       { return fmt.Sprintf("OUTBOX#%d", shard) }
func usersPK(shard int) string        { return fmt.Sprintf("USERS#%d", shard) }
func userSK(email string) string      { return latch.NormalizeEmail(email) }

// requestPK is the partition of a request and its audit events.
func requestPK(id string) string { return requestKey(id).pk }

// createdSK is an index sort key ordered by creation time, then ID.
func createdSK(t time.Time, id string) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + id
}

// outboxShard and userShard spread effects and users over their partitions.
func outboxShard(effectID string) int { return shard(effectID, outboxShards) }
func userShard(email string) int      { return shard(latch.NormalizeEmail(email), userShards) }

func shard(s string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int(h.Sum32() % uint32(n))
}

// requestIndexes are a request's index attributes.
func requestIndexes(r latch.Request) map[string]types.AttributeValue {
	sk := createdSK(r.CreatedAt, r.ID)
	return map[string]types.AttributeValue{
		IndexStatus.PartitionKey:    str(requestStatusPK(r.Status)),
		IndexStatus.SortKey:         str(sk),
		IndexFlow.PartitionKey:      str(flowPK(r.Flow)),
		IndexFlow.SortKey:           str(sk),
		IndexRequester.PartitionKey: str(requesterPK(r.Requester.Email)),
		IndexRequester.SortKey:      str(sk),
	}
}

// grantIndexes are a grant's index attributes.
func grantIndexes(g latch.Grant) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		IndexStatus.PartitionKey: str(grantStatusPK(g.Status)),
		IndexStatus.SortKey:      str(createdSK(g.CreatedAt, g.ID)),
	}
}

// effectIndexes are an outbox effect's index attributes.
func effectIndexes(e latch.Effect) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		IndexShard.PartitionKey: str(outboxPK(outboxShard(e.ID))),
		IndexShard.SortKey:      str(createdSK(e.CreatedAt, e.ID)),
	}
}

// userIndexes are a user's index attributes.
func userIndexes(u latch.User) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		IndexShard.PartitionKey: str(usersPK(userShard(u.Email))),
		IndexShard.SortKey:      str(userSK(u.Email)),
	}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
