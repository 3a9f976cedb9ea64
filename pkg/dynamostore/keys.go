package dynamostore

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/latch"
)

// Every key and index value of the table is built here, and nowhere else.
//
//	item             pk                    sk
//	request          REQ#<id>              REQ
//	audit event      REQ#<request id>      AUDIT#<event id>
//	message ref      REQ#<request id>      MSG#<kind>#<channel>  (kind with '%' and '#' escaped)
//	admin event      AUDITLOG#<yyyy-mm>    <at>#<id>       (an event of no request, in the partition of its UTC month)
//	admin event id   AUDITID#<id>          AUDITID         (makes the ID unique; no document)
//	grant            GRANT#<id>            GRANT
//	hold token       GRANT#<grant id>      HOLD            (the task token of the grant's Step Functions Hold)
//	held before      GRANT#<grant id>      HELD            (held: the access was there before Latch's first grant attempt; written once)
//	open grant       GKEY#<grant key>      GKEY            (grant_id: the open grant)
//	outbox effect    EFFECT#<id>           EFFECT
//	user             USER#<email>          USER
//	identity         IDENT#<email>         SVC#<service>
//	domain           DOMAIN#<name>         DOMAIN
//	token            TOKEN#<id>            TOKEN
//	token hash       TOKENHASH#<hash>      TOKENHASH       (token_id: the token)
//	dedup marker     DEDUP#<dedup key>     DEDUP           (ttl: 30 days)
//
//	index      item      partition                 sort
//	status          request   STATUS#<status>                    <created>#<id>
//	status          grant     GRANT_STATUS#<status>              <created>#<id>
//	flow            request   FLOW#<flow>                        <status>#<created>#<id>
//	requester       request   REQUESTER#<email>                  <status>#<created>#<id>
//	flow_requester  request   FLOW#<flow>#REQUESTER#<email>      <status>#<created>#<id>
//	shard      effect    OUTBOX#<0..7>             <created>#<id>
//	shard      user      USERS#<0..3>              <email>
//	shard      identity  IDENTS#<0..3>             <email>#<service>
//	shard      domain    DOMAINS#<0..3>            <name>
//	shard      token     TOKENS#<0..3>             <created>#<id>
//
// <created> and <at> are times in UTC with nine fractional digits, so
// text order is time order. A request is in the partitions of its status,
// its flow, its requester and its flow and requester together; where the
// sort key starts with the status, the requests of one status (and flow, or
// requester, or both) are one key range, and the requests of every status
// are a merge of one range per status (lists.go): every combination of
// ListRequests' filters, and a time range, is a key condition. Admin events (Store.AppendAudit) are spread
// over one partition per month, so no partition grows without end or takes
// every write, and a time range is a key-range Query of each month in it. An audit event lives in its request's
// partition, so reading a request's log is one consistent Query; so do the
// refs of the chat messages posted about it, which carry no TTL and stay as
// long as the request; a user's
// identities share a partition, so listing them is one too. A user's
// identities are in the shard of the user's email. The token hash item
// makes a hash unique (CreateToken puts it and the token in one
// transaction) and finds a token by its hash with consistent reads; it
// carries no document. Emails in keys are normalized; domain names, services,
// token IDs and hashes are used as given.

// Shard counts. Changing one moves items between partitions: existing
// items must be rewritten.
const (
	outboxShards   = 8
	userShards     = 4
	identityShards = 4
	domainShards   = 4
	tokenShards    = 4
)

const (
	skRequest   = "REQ"
	skGrant     = "GRANT"
	skHoldToken = "HOLD"
	skHeld      = "HELD"
	skOpenGrant = "GKEY"
	skEffect    = "EFFECT"
	skUser      = "USER"
	skDomain    = "DOMAIN"
	skToken     = "TOKEN"
	skTokenHash = "TOKENHASH"
	skDedup     = "DEDUP"
	skAuditID   = "AUDITID"
	auditPrefix = "AUDIT#"
	svcPrefix   = "SVC#"
	msgPrefix   = "MSG#"
)

// key is an item's primary key.
type key struct{ pk, sk string }

func (k key) av() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: str(k.pk), AttrSK: str(k.sk)}
}

func requestKey(id string) key              { return key{"REQ#" + id, skRequest} }
func auditKey(requestID, id string) key     { return key{"REQ#" + requestID, auditPrefix + id} }
func grantKey(id string) key                { return key{"GRANT#" + id, skGrant} }
func holdTokenKey(grantID string) key       { return key{"GRANT#" + grantID, skHoldToken} }
func heldBeforeKey(grantID string) key      { return key{"GRANT#" + grantID, skHeld} }
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
func flowRequesterPK(flow, email string) string {
	return flowPK(flow) + "#" + requesterPK(email)
}
func outboxPK(shard int) string  { return fmt.Sprintf("OUTBOX#%d", shard) }
func usersPK(shard int) string   { return fmt.Sprintf("USERS#%d", shard) }
func userSK(email string) string { return latch.NormalizeEmail(email) }

func identityKey(email, service string) key {
	return key{identityPK(email), svcPrefix + service}
}
func domainKey(name string) key     { return key{"DOMAIN#" + name, skDomain} }
func tokenKey(id string) key        { return key{"TOKEN#" + id, skToken} }
func tokenHashKey(hash string) key  { return key{"TOKENHASH#" + hash, skTokenHash} }
func identitiesPK(shard int) string { return fmt.Sprintf("IDENTS#%d", shard) }
func domainsPK(shard int) string    { return fmt.Sprintf("DOMAINS#%d", shard) }
func tokensPK(shard int) string     { return fmt.Sprintf("TOKENS#%d", shard) }
func identitySK(id latch.Identity) string {
	return latch.NormalizeEmail(id.Email) + "#" + id.Service
}

// adminAuditKey is the key of an event of no request: the partition of its
// UTC month, sorted by time, then ID.
func adminAuditKey(e latch.AuditEvent) key {
	return key{adminAuditPK(e.At), createdSK(e.At, e.ID)}
}

// adminAuditPK is the partition of the admin events of t's UTC month.
func adminAuditPK(t time.Time) string { return "AUDITLOG#" + t.UTC().Format("2006-01") }

// auditIDKey is the key of the item that makes an admin event's ID unique.
func auditIDKey(id string) key { return key{"AUDITID#" + id, skAuditID} }

// adminAuditPKs returns the partitions of the admin events in [from, to),
// one per UTC month, oldest first; none when to is not after from.
func adminAuditPKs(from, to time.Time) []string {
	if !from.Before(to) {
		return nil
	}
	var out []string
	from, to = from.UTC(), to.UTC()
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); m.Before(to); m = m.AddDate(0, 1, 0) {
		out = append(out, adminAuditPK(m))
	}
	return out
}

// identityPK is the partition of a user's identities.
func identityPK(email string) string { return "IDENT#" + latch.NormalizeEmail(email) }

// requestPK is the partition of a request, its audit events and its
// message refs.
func requestPK(id string) string { return requestKey(id).pk }

// messageRefKey is the key of the ref of a message about a request, in the
// request's partition. The kind is escaped so that it holds no '#': the
// first '#' after the prefix ends it, and no other kind and channel make the
// same key.
func messageRefKey(requestID, kind, channel string) key {
	return key{requestPK(requestID), msgPrefix + kindEscaper.Replace(kind) + "#" + channel}
}

var kindEscaper = strings.NewReplacer("%", "%25", "#", "%23")

// createdSK is an index sort key ordered by creation time, then ID.
func createdSK(t time.Time, id string) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + id
}

// statusSK is an index sort key ordered by status, then creation time,
// then ID.
func statusSK(st latch.Status, t time.Time, id string) string {
	return string(st) + "#" + createdSK(t, id)
}

// outboxShard, userShard, identityShard, domainShard and tokenShard spread
// effects, users, identities, domains and tokens over their partitions.
func outboxShard(effectID string) int { return shard(effectID, outboxShards) }
func userShard(email string) int      { return shard(latch.NormalizeEmail(email), userShards) }
func identityShard(email string) int  { return shard(latch.NormalizeEmail(email), identityShards) }
func domainShard(name string) int     { return shard(name, domainShards) }
func tokenShard(id string) int        { return shard(id, tokenShards) }

func shard(s string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int(h.Sum32() % uint32(n))
}

// requestIndexes are a request's index attributes.
func requestIndexes(r latch.Request) map[string]types.AttributeValue {
	sk := createdSK(r.CreatedAt, r.ID)
	ssk := statusSK(r.Status, r.CreatedAt, r.ID)
	return map[string]types.AttributeValue{
		IndexStatus.PartitionKey:        str(requestStatusPK(r.Status)),
		IndexStatus.SortKey:             str(sk),
		IndexFlow.PartitionKey:          str(flowPK(r.Flow)),
		IndexFlow.SortKey:               str(ssk),
		IndexRequester.PartitionKey:     str(requesterPK(r.Requester.Email)),
		IndexRequester.SortKey:          str(ssk),
		IndexFlowRequester.PartitionKey: str(flowRequesterPK(r.Flow, r.Requester.Email)),
		IndexFlowRequester.SortKey:      str(ssk),
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

// identityIndexes are an identity's index attributes.
func identityIndexes(id latch.Identity) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		IndexShard.PartitionKey: str(identitiesPK(identityShard(id.Email))),
		IndexShard.SortKey:      str(identitySK(id)),
	}
}

// domainIndexes are a domain's index attributes.
func domainIndexes(d latch.Domain) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		IndexShard.PartitionKey: str(domainsPK(domainShard(d.Name))),
		IndexShard.SortKey:      str(d.Name),
	}
}

// tokenIndexes are a token's index attributes.
func tokenIndexes(t latch.Token) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		IndexShard.PartitionKey: str(tokensPK(tokenShard(t.ID))),
		IndexShard.SortKey:      str(createdSK(t.CreatedAt, t.ID)),
	}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
