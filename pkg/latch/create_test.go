package latch_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// fieldsFlow is the test flow with fields: a required reason, a duration of
// at most four hours defaulting to one, and a priority of 1, 2 or 3
// defaulting to 2.
func fieldsFlow(opts ...func(*latch.Flow)) *latch.Flow {
	four := int64(4 * 3600)
	f := testFlow(func(f *latch.Flow) {
		f.Fields = []latch.Field{
			{Name: "reason", Type: latch.FieldString, Required: true},
			{Name: latch.FieldNameDuration, Type: latch.FieldDuration, Default: int64(3600), Max: &four},
			{Name: "priority", Type: latch.FieldInt, Default: int64(2), AllowedValues: []any{int64(1), int64(2), int64(3)}},
		}
	})
	for _, o := range opts {
		o(f)
	}
	return f
}

// sources sets the flow's sources; with none it sets an empty, not a nil, list.
func sources(ss ...latch.Source) func(*latch.Flow) {
	return func(f *latch.Flow) { f.Sources = append([]latch.Source{}, ss...) }
}

func targets(ids ...string) func(*latch.Flow) {
	return func(f *latch.Flow) {
		f.Strategy.Targets = nil
		for _, id := range ids {
			f.Strategy.Targets = append(f.Strategy.Targets, latch.Target{ID: id})
		}
	}
}

func noTimeout(f *latch.Flow) { f.Approval.Timeout = 0 }

func TestCreate(t *testing.T) {
	ctx := map[string]any{"ticket": "OPS-42"}
	tests := []struct {
		name string
		flow *latch.Flow
		give latch.NewRequest
		want latch.Change
	}{
		{
			name: "a request from Slack is pending, recorded, announced, hooked and set to expire",
			flow: fieldsFlow(),
			give: latch.NewRequest{ID: "r1", Flow: flowName, Requester: ann, Source: latch.SourceSlack,
				Fields: map[string]any{"reason": "incident 42", "duration": "30m"}, Context: ctx, At: t0},
			want: latch.Change{
				Dedup: "create/r1",
				Requests: []latch.Request{{
					ID: "r1", Flow: flowName, Requester: latch.UserRef{ID: ann.ID, Email: ann.Email}, CreatedBy: by(ann),
					Source: latch.SourceSlack, Context: ctx, TargetID: targetID, Duration: 1800, Status: latch.StatusPending,
					Fields:    latch.Fields{"reason": "incident 42", "duration": int64(1800), "priority": int64(2), latch.FieldNameTarget: targetID},
					ExpiresAt: ptr(at(time.Hour)), CreatedAt: t0, UpdatedAt: t0, EventSeq: 1,
				}},
				Audit: []latch.AuditEvent{{
					ID: "r1/000001", RequestID: "r1", Seq: 1, Type: latch.AuditRequested, At: t0, Flow: flowName,
					Requester: ann.Email, Actor: by(ann), TargetID: targetID, Source: latch.SourceSlack,
					Fields: latch.Fields{"reason": "incident 42", "duration": int64(1800), "priority": int64(2), latch.FieldNameTarget: targetID},
					Data:   map[string]any{"context": ctx},
				}},
				Effects: []latch.Effect{
					{ID: "create/r1/0", Kind: latch.EffectExpire, RequestID: "r1", At: at(time.Hour), CreatedAt: t0},
					{ID: "create/r1/1", Kind: latch.EffectNotify, RequestID: "r1", Event: latch.AuditRequested, CreatedAt: t0},
					{ID: "create/r1/2", Kind: latch.EffectHook, RequestID: "r1", Hook: latch.HookOnRequest, CreatedAt: t0},
				},
			},
		},
		{
			name: "a bot's request on a person's behalf keeps the bot, and without a timeout or hook only announces",
			flow: fieldsFlow(noTimeout, noHooks),
			give: latch.NewRequest{ID: "r2", Flow: flowName, Requester: ann, CreatedBy: latch.Actor{Email: ann.Email, Bot: "deploy-bot"},
				Source: latch.SourceAPI, Fields: map[string]any{"reason": "deploy", "priority": float64(3)}, At: t0},
			want: latch.Change{
				Dedup: "create/r2",
				Requests: []latch.Request{{
					ID: "r2", Flow: flowName, Requester: latch.UserRef{ID: ann.ID, Email: ann.Email},
					CreatedBy: latch.Actor{Email: ann.Email, Bot: "deploy-bot"}, Source: latch.SourceAPI, TargetID: targetID,
					Duration: 3600, Status: latch.StatusPending, CreatedAt: t0, UpdatedAt: t0, EventSeq: 1,
					Fields: latch.Fields{"reason": "deploy", "duration": int64(3600), "priority": int64(3), latch.FieldNameTarget: targetID},
				}},
				Audit: []latch.AuditEvent{{
					ID: "r2/000001", RequestID: "r2", Seq: 1, Type: latch.AuditRequested, At: t0, Flow: flowName,
					Requester: ann.Email, Actor: latch.Actor{Email: ann.Email, Bot: "deploy-bot"}, TargetID: targetID, Source: latch.SourceAPI,
					Fields: latch.Fields{"reason": "deploy", "duration": int64(3600), "priority": int64(3), latch.FieldNameTarget: targetID},
				}},
				Effects: []latch.Effect{{ID: "create/r2/0", Kind: latch.EffectNotify, RequestID: "r2", Event: latch.AuditRequested, CreatedAt: t0}},
			},
		},
		{
			name: "an approval-only flow has no target and the default duration",
			flow: testFlow(approvalOnly, noTimeout, noHooks),
			give: latch.NewRequest{ID: "r3", Flow: flowName, Requester: ann, Source: latch.SourceSlack, At: t0},
			want: latch.Change{
				Dedup: "create/r3",
				Requests: []latch.Request{{
					ID: "r3", Flow: flowName, Requester: latch.UserRef{ID: ann.ID, Email: ann.Email}, CreatedBy: by(ann),
					Source: latch.SourceSlack, Fields: latch.Fields{}, Duration: int64(latch.DefaultDuration / time.Second),
					Status: latch.StatusPending, CreatedAt: t0, UpdatedAt: t0, EventSeq: 1,
				}},
				Audit: []latch.AuditEvent{{
					ID: "r3/000001", RequestID: "r3", Seq: 1, Type: latch.AuditRequested, At: t0, Flow: flowName,
					Requester: ann.Email, Actor: by(ann), Source: latch.SourceSlack, Fields: latch.Fields{},
				}},
				Effects: []latch.Effect{{ID: "create/r3/0", Kind: latch.EffectNotify, RequestID: "r3", Event: latch.AuditRequested, CreatedAt: t0}},
			},
		},
		{
			name: "the target is the one named where the flow has several",
			flow: testFlow(targets("staging", "prod"), noTimeout, noHooks),
			give: latch.NewRequest{ID: "r4", Flow: flowName, Requester: ann, Source: latch.SourceAPI,
				Fields: map[string]any{latch.FieldNameTarget: "staging"}, At: t0},
			want: latch.Change{
				Dedup: "create/r4",
				Requests: []latch.Request{{
					ID: "r4", Flow: flowName, Requester: latch.UserRef{ID: ann.ID, Email: ann.Email}, CreatedBy: by(ann),
					Source: latch.SourceAPI, Fields: latch.Fields{latch.FieldNameTarget: "staging"}, TargetID: "staging",
					Duration: 3600, Status: latch.StatusPending, CreatedAt: t0, UpdatedAt: t0, EventSeq: 1,
				}},
				Audit: []latch.AuditEvent{{
					ID: "r4/000001", RequestID: "r4", Seq: 1, Type: latch.AuditRequested, At: t0, Flow: flowName,
					Requester: ann.Email, Actor: by(ann), TargetID: "staging", Source: latch.SourceAPI,
					Fields: latch.Fields{latch.FieldNameTarget: "staging"},
				}},
				Effects: []latch.Effect{{ID: "create/r4/0", Kind: latch.EffectNotify, RequestID: "r4", Event: latch.AuditRequested, CreatedAt: t0}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := latch.Create(tt.flow, tt.give)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			diff(t, "change", tt.want, got, changeOpts...)
		})
	}
}

func TestCreateRefusals(t *testing.T) {
	tests := []struct {
		name        string
		flow        *latch.Flow
		requester   *latch.User
		source      latch.Source
		fields      map[string]any
		wantKind    latch.ErrorKind
		wantCode    string
		wantDetails map[string]any
	}{
		{name: "sources unset allows Slack", flow: fieldsFlow(), requester: ann, source: latch.SourceSlack},
		{name: "sources unset allows the API", flow: fieldsFlow(), requester: ann, source: latch.SourceAPI},
		{name: "a source the flow lists", flow: fieldsFlow(sources(latch.SourceAPI)), requester: ann, source: latch.SourceAPI},
		{name: "a source the flow does not list", flow: fieldsFlow(sources(latch.SourceAPI)), requester: ann, source: latch.SourceSlack,
			wantKind: latch.KindForbidden, wantCode: latch.CodeSourceNotAllowed},
		{name: "empty sources allow no Slack request", flow: fieldsFlow(sources()), requester: ann, source: latch.SourceSlack,
			wantKind: latch.KindForbidden, wantCode: latch.CodeSourceNotAllowed},
		{name: "empty sources allow no API request", flow: fieldsFlow(sources()), requester: ann, source: latch.SourceAPI,
			wantKind: latch.KindForbidden, wantCode: latch.CodeSourceNotAllowed},
		{name: "a guest cannot request", flow: fieldsFlow(), requester: gus, source: latch.SourceSlack,
			wantKind: latch.KindForbidden, wantCode: latch.CodeGuestCannotRequest},
		{name: "a guest cannot request where the flow allows guest interaction", flow: fieldsFlow(guests), requester: gus,
			source: latch.SourceSlack, wantKind: latch.KindForbidden, wantCode: latch.CodeGuestCannotRequest},
		{name: "an admin requests", flow: fieldsFlow(), requester: dan, source: latch.SourceSlack},
		{name: "no requester", flow: fieldsFlow(), source: latch.SourceSlack, wantKind: latch.KindInvalid, wantCode: "missing_user"},
		{
			name: "every bad field is named", flow: fieldsFlow(), requester: ann, source: latch.SourceSlack,
			fields:   map[string]any{"reason": "  ", "duration": "0m", "priority": float64(7), "bogus": "x"},
			wantKind: latch.KindInvalid, wantCode: "invalid_fields",
			wantDetails: map[string]any{
				"reason":   "is required",
				"duration": `"0m" is not a duration (write 30m, 4h or 1d)`,
				"priority": "7 is not one of the allowed values (1, 2, 3)",
				"bogus":    "unknown field",
			},
		},
		{
			name: "a duration over the maximum", flow: fieldsFlow(), requester: ann, source: latch.SourceSlack,
			fields:   map[string]any{"reason": "r", "duration": "1d"},
			wantKind: latch.KindInvalid, wantCode: "invalid_fields",
			wantDetails: map[string]any{"duration": "1d is more than the maximum 4h"},
		},
		{
			name: "a flow with several targets needs one named", flow: fieldsFlow(targets("staging", "prod")), requester: ann,
			source: latch.SourceSlack, fields: map[string]any{"reason": "r"},
			wantKind: latch.KindInvalid, wantCode: "invalid_fields",
			wantDetails: map[string]any{latch.FieldNameTarget: "is required: this flow has several targets"},
		},
		{
			name: "a target the flow does not have", flow: fieldsFlow(), requester: ann, source: latch.SourceSlack,
			fields:   map[string]any{"reason": "r", latch.FieldNameTarget: "prod-root"},
			wantKind: latch.KindInvalid, wantCode: "invalid_fields",
			wantDetails: map[string]any{latch.FieldNameTarget: `"prod-root" is not a target of this flow`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := tt.fields
			if fields == nil {
				fields = map[string]any{"reason": "incident 42"}
			}
			got, err := latch.Create(tt.flow, latch.NewRequest{ID: "r1", Flow: flowName, Requester: tt.requester,
				Source: tt.source, Fields: fields, At: t0})
			wantKindCode(t, err, tt.wantKind, tt.wantCode)
			if err != nil {
				diff(t, "change", latch.Change{}, got, changeOpts...)
				var le *latch.Error
				errors.As(err, &le)
				diff(t, "details", tt.wantDetails, le.Details, changeOpts...)
				for name := range tt.wantDetails {
					if !strings.Contains(le.Message, name+": ") {
						t.Errorf("message %q does not name %s", le.Message, name)
					}
				}
				return
			}
			if len(got.Requests) != 1 || got.Requests[0].Status != latch.StatusPending {
				t.Errorf("Create = %+v, want one pending request", got.Requests)
			}
		})
	}
}
