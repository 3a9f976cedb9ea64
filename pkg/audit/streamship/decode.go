package streamship

import (
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchhq/latch/pkg/dynamostore"
	"github.com/latchhq/latch/pkg/latch"
)

// ErrNoImage is the error of an INSERT record without its new image: the
// table's stream is not configured with NEW_IMAGE (or NEW_AND_OLD_IMAGES),
// so audit events cannot be told from other items, nor read.
var ErrNoImage = errors.New("stream record has no new image: the table's stream view type must be NEW_IMAGE or NEW_AND_OLD_IMAGES")

// RecordEvent returns the audit event a stream record carries. ok is false,
// with no error, for every record that is not the insertion of an audit
// event: items of other types (requests, grants, outbox effects, the
// uniqueness markers of admin events' ids, dedup markers, ...), and every
// MODIFY and REMOVE record. Audit items are written once, on the condition
// that they do not exist (Store.Commit, Store.AppendAudit), and never
// rewritten, so an audit event enters the stream exactly once, as an
// INSERT; the only deletions are time to live's, of dedup markers. An
// INSERT without a new image is ErrNoImage; an audit item that cannot be
// decoded is an error naming its key.
func RecordEvent(r events.DynamoDBEventRecord) (e latch.AuditEvent, ok bool, err error) {
	if r.EventName != string(events.DynamoDBOperationTypeInsert) {
		return latch.AuditEvent{}, false, nil
	}
	img := r.Change.NewImage
	if len(img) == 0 {
		return latch.AuditEvent{}, false, fmt.Errorf("%s of %s (sequence number %s): %w",
			r.EventName, keyOf(r.Change.Keys), r.Change.SequenceNumber, ErrNoImage)
	}
	if str(img, dynamostore.AttrType) != dynamostore.TypeAudit {
		return latch.AuditEvent{}, false, nil
	}
	e, err = DecodeAuditItem(img)
	if err != nil {
		return latch.AuditEvent{}, false, err
	}
	return e, true, nil
}

// DecodeAuditItem decodes an audit item of the table, as a stream record's
// image shows it: its type must be dynamostore.TypeAudit, and its document
// (dynamostore.AttrDoc) a latch.AuditEvent with an ID, as a native map or,
// written by an earlier version, as a JSON string (dynamostore.DecodeAudit
// reads both). Errors name the item's key.
func DecodeAuditItem(item map[string]events.DynamoDBAttributeValue) (latch.AuditEvent, error) {
	key := keyOf(item)
	if t := str(item, dynamostore.AttrType); t != dynamostore.TypeAudit {
		return latch.AuditEvent{}, fmt.Errorf("item %s: type %q, not %q", key, t, dynamostore.TypeAudit)
	}
	doc, ok := item[dynamostore.AttrDoc]
	if !ok {
		return latch.AuditEvent{}, fmt.Errorf("audit item %s has no document (a %q attribute)", key, dynamostore.AttrDoc)
	}
	av, err := sdkValue(doc)
	if err != nil {
		return latch.AuditEvent{}, fmt.Errorf("audit item %s: %w", key, err)
	}
	e, err := dynamostore.DecodeAudit(map[string]types.AttributeValue{dynamostore.AttrDoc: av})
	if err != nil {
		return latch.AuditEvent{}, fmt.Errorf("audit item %s: decode its document: %w", key, err)
	}
	if e.ID == "" {
		return latch.AuditEvent{}, fmt.Errorf("audit item %s: the event has no id", key)
	}
	return e, nil
}

// sdkValue converts a stream image's attribute value into the SDK's.
func sdkValue(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		var out []types.AttributeValue
		for _, e := range v.List() {
			av, err := sdkValue(e)
			if err != nil {
				return nil, err
			}
			out = append(out, av)
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case events.DataTypeMap:
		out := map[string]types.AttributeValue{}
		for k, e := range v.Map() {
			av, err := sdkValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = av
		}
		return &types.AttributeValueMemberM{Value: out}, nil
	}
	return nil, fmt.Errorf("an attribute value of unknown type %d", v.DataType())
}

// str returns the string attribute name of item, or "" when it is absent or
// not a string.
func str(item map[string]events.DynamoDBAttributeValue, name string) string {
	v, ok := item[name]
	if !ok || v.DataType() != events.DataTypeString {
		return ""
	}
	return v.String()
}

// keyOf names an item by its key, for messages.
func keyOf(item map[string]events.DynamoDBAttributeValue) string {
	pk, sk := str(item, dynamostore.AttrPK), str(item, dynamostore.AttrSK)
	if pk == "" && sk == "" {
		return "(no key)"
	}
	return pk + " " + sk
}
