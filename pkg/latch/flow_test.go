package latch_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

func i64(n int64) *int64 { return &n }

func TestFieldNormalize(t *testing.T) {
	str := latch.Field{Name: "f", Type: latch.FieldString}
	integer := latch.Field{Name: "f", Type: latch.FieldInt}
	boolean := latch.Field{Name: "f", Type: latch.FieldBool}
	dur := latch.Field{Name: "f", Type: latch.FieldDuration}
	strs := latch.Field{Name: "f", Type: latch.FieldStrings}
	ints := latch.Field{Name: "f", Type: latch.FieldInts}
	tests := []struct {
		name    string
		field   latch.Field
		give    any
		want    any
		wantErr string
	}{
		{name: "string", field: str, give: "prod", want: "prod"},
		{name: "string keeps spaces", field: str, give: " a b ", want: " a b "},
		{name: "string from a number", field: str, give: float64(3), wantErr: `field "f": want a string, got the number 3`},
		{name: "string from nothing", field: str, give: nil, wantErr: `field "f": want a string, got nothing`},
		{name: "slack user", field: latch.Field{Name: "f", Type: latch.FieldSlackUser}, give: "U024BE7LH", want: "U024BE7LH"},
		{name: "slack user from a list", field: latch.Field{Name: "f", Type: latch.FieldSlackUser}, give: []any{"U1"},
			wantErr: `field "f": want a string, got a list`},

		{name: "int from a JSON number", field: integer, give: float64(3), want: int64(3)},
		{name: "int from a negative JSON number", field: integer, give: float64(-3), want: int64(-3)},
		{name: "int from a fraction", field: integer, give: float64(3.5), wantErr: `field "f": want a whole number, got 3.5`},
		{name: "int from a json.Number", field: integer, give: json.Number("42"), want: int64(42)},
		{name: "int from a fractional json.Number", field: integer, give: json.Number("4.2"), wantErr: `field "f": want a whole number, got 4.2`},
		{name: "int from text", field: integer, give: "17", want: int64(17)},
		{name: "int from text with spaces", field: integer, give: " 17 ", want: int64(17)},
		{name: "int from words", field: integer, give: "seventeen", wantErr: `field "f": want a whole number, got "seventeen"`},
		{name: "int from a Go int", field: integer, give: 5, want: int64(5)},
		{name: "int from an int64", field: integer, give: int64(5), want: int64(5)},
		{name: "int from a bool", field: integer, give: true, wantErr: `field "f": want a whole number, got true`},
		{name: "int from an object", field: integer, give: map[string]any{}, wantErr: `field "f": want a whole number, got an object`},

		{name: "bool", field: boolean, give: true, want: true},
		{name: "bool from text true", field: boolean, give: "true", want: true},
		{name: "bool from text false", field: boolean, give: "false", want: false},
		{name: "bool from yes", field: boolean, give: "yes", wantErr: `field "f": want true or false, got "yes"`},
		{name: "bool from a number", field: boolean, give: float64(1), wantErr: `field "f": want true or false, got the number 1`},

		{name: "duration from minutes", field: dur, give: "30m", want: int64(1800)},
		{name: "duration from hours", field: dur, give: "4h", want: int64(4 * 3600)},
		{name: "duration from a day", field: dur, give: "1d", want: int64(86400)},
		{name: "duration from a Go duration", field: dur, give: "1h30m", want: int64(5400)},
		{name: "duration from JSON seconds", field: dur, give: float64(90), want: int64(90)},
		{name: "duration from json.Number seconds", field: dur, give: json.Number("90"), want: int64(90)},
		{name: "duration from int64 seconds", field: dur, give: int64(90), want: int64(90)},
		{name: "duration of zero seconds", field: dur, give: float64(0), wantErr: `field "f": a duration must be positive, got 0 seconds`},
		{name: "duration of negative seconds", field: dur, give: float64(-60), wantErr: `field "f": a duration must be positive, got -60 seconds`},
		{name: "duration of fractional seconds", field: dur, give: float64(1.5),
			wantErr: `field "f": want a duration such as 30m, 4h, 1d or whole seconds, got the number 1.5`},
		{name: "duration from a bool", field: dur, give: true,
			wantErr: `field "f": want a duration such as 30m, 4h, 1d or whole seconds, got true`},
		{name: "duration from text without a unit", field: dur, give: "90", wantErr: `field "f": "90" is not a duration (write 30m, 4h or 1d)`},
		{name: "duration of zero minutes", field: dur, give: "0m", wantErr: `field "f": "0m" is not a duration (write 30m, 4h or 1d)`},
		{name: "duration of a fraction of an hour", field: dur, give: "1.5h", wantErr: `field "f": "1.5h" is not a duration (write 30m, 4h or 1d)`},

		{name: "strings from a JSON list", field: strs, give: []any{"a", "b"}, want: []string{"a", "b"}},
		{name: "strings from a Go list", field: strs, give: []string{"a"}, want: []string{"a"}},
		{name: "strings from an empty list", field: strs, give: []any{}, want: []string{}},
		{name: "strings with a number", field: strs, give: []any{"a", float64(1)}, wantErr: `field "f": item 1: want a string, got the number 1`},
		{name: "strings from one string", field: strs, give: "a", wantErr: `field "f": want a list of strings, got the text "a"`},
		{name: "slack users", field: latch.Field{Name: "f", Type: latch.FieldSlackUsers}, give: []any{"U1", "U2"}, want: []string{"U1", "U2"}},
		{name: "ints from JSON numbers, json.Numbers and text", field: ints, give: []any{float64(1), json.Number("2"), "3"}, want: []int64{1, 2, 3}},
		{name: "ints from a Go list", field: ints, give: []int64{4}, want: []int64{4}},
		{name: "ints with a fraction", field: ints, give: []any{float64(1), float64(1.5)}, wantErr: `field "f": item 1: want a whole number, got 1.5`},
		{name: "ints from strings list", field: ints, give: []string{"7", "x"}, wantErr: `field "f": item 1: want a whole number, got "x"`},
		{name: "ints from one number", field: ints, give: float64(1), wantErr: `field "f": want a list of whole numbers, got the number 1`},

		{name: "unknown type", field: latch.Field{Name: "f", Type: "map"}, give: "x", wantErr: `field "f": unknown field type "map"`},

		{name: "an allowed int", field: latch.Field{Name: "f", Type: latch.FieldInt, AllowedValues: []any{int64(1), int64(2), int64(3)}},
			give: float64(2), want: int64(2)},
		{name: "an int not allowed", field: latch.Field{Name: "f", Type: latch.FieldInt, AllowedValues: []any{int64(1), int64(2), int64(3)}},
			give: float64(4), wantErr: `field "f": 4 is not one of the allowed values (1, 2, 3)`},
		{name: "an allowed string", field: latch.Field{Name: "f", Type: latch.FieldString, AllowedValues: []any{"read", "write"}},
			give: "write", want: "write"},
		{name: "a string not allowed", field: latch.Field{Name: "f", Type: latch.FieldString, AllowedValues: []any{"read", "write"}},
			give: "admin", wantErr: `field "f": admin is not one of the allowed values (read, write)`},
		{name: "an allowed duration", field: latch.Field{Name: "f", Type: latch.FieldDuration, AllowedValues: []any{int64(1800), int64(3600)}},
			give: "1h", want: int64(3600)},
		{name: "a duration not allowed, shown as durations", field: latch.Field{Name: "f", Type: latch.FieldDuration, AllowedValues: []any{int64(1800), int64(3600)}},
			give: "2h", wantErr: `field "f": 2h is not one of the allowed values (30m, 1h)`},

		{name: "an int at the maximum", field: latch.Field{Name: "f", Type: latch.FieldInt, Min: i64(1), Max: i64(10)}, give: float64(10), want: int64(10)},
		{name: "an int at the minimum", field: latch.Field{Name: "f", Type: latch.FieldInt, Min: i64(1), Max: i64(10)}, give: float64(1), want: int64(1)},
		{name: "an int under the minimum", field: latch.Field{Name: "f", Type: latch.FieldInt, Min: i64(1), Max: i64(10)}, give: float64(0),
			wantErr: `field "f": 0 is less than the minimum 1`},
		{name: "an int over the maximum", field: latch.Field{Name: "f", Type: latch.FieldInt, Min: i64(1), Max: i64(10)}, give: "11",
			wantErr: `field "f": 11 is more than the maximum 10`},
		{name: "a duration under the minimum, shown as durations", field: latch.Field{Name: "f", Type: latch.FieldDuration, Min: i64(90), Max: i64(4 * 3600)},
			give: "1m", wantErr: `field "f": 1m is less than the minimum 90s`},
		{name: "a duration over the maximum, shown as durations", field: latch.Field{Name: "f", Type: latch.FieldDuration, Min: i64(90), Max: i64(4 * 3600)},
			give: "1d", wantErr: `field "f": 1d is more than the maximum 4h`},
		{name: "bounds do not apply to lists", field: latch.Field{Name: "f", Type: latch.FieldInts, Max: i64(1)},
			give: []any{float64(5)}, want: []int64{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.field.Normalize(tt.give)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Normalize(%#v) = %#v, want error %q", tt.give, got, tt.wantErr)
				}
				diff(t, "error", tt.wantErr, err.Error())
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%#v): %v", tt.give, err)
			}
			diff(t, "value", tt.want, got)
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		give    string
		want    time.Duration
		wantErr bool
	}{
		{give: "30m", want: 30 * time.Minute},
		{give: "4h", want: 4 * time.Hour},
		{give: "1d", want: 24 * time.Hour},
		{give: "7d", want: 7 * 24 * time.Hour},
		{give: "90s", want: 90 * time.Second},
		{give: "1h30m", want: 90 * time.Minute},
		{give: " 2h ", want: 2 * time.Hour},
		{give: "99999d", want: 99999 * 24 * time.Hour},
		{give: "", wantErr: true},
		{give: "0m", wantErr: true},
		{give: "0d", wantErr: true},
		{give: "-1h", wantErr: true},
		{give: "-1d", wantErr: true},
		{give: "1.5h", wantErr: true},
		{give: "1.5d", wantErr: true},
		{give: "0.5m", wantErr: true},
		{give: "500ms", wantErr: true},
		{give: "1s500ms", wantErr: true},
		{give: "abc", wantErr: true},
		{give: "1x", wantErr: true},
		{give: "d", wantErr: true},
		{give: "h", wantErr: true},
		{give: "30", wantErr: true},
		{give: "1 d", wantErr: true},
		{give: "100000d", wantErr: true},
		{give: "9999999999h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got, err := latch.ParseDuration(tt.give)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want an error", tt.give, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.give, err)
			}
			diff(t, "duration", tt.want, got)
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		give time.Duration
		want string
	}{
		{give: 30 * time.Minute, want: "30m"},
		{give: 4 * time.Hour, want: "4h"},
		{give: 24 * time.Hour, want: "1d"},
		{give: 48 * time.Hour, want: "2d"},
		{give: 25 * time.Hour, want: "25h"},
		{give: 90 * time.Minute, want: "90m"},
		{give: 45 * time.Second, want: "45s"},
		{give: 90 * time.Second, want: "90s"},
		{give: time.Hour + 30*time.Second, want: "3630s"},
		{give: 24*time.Hour + time.Second, want: "86401s"},
		{give: 0, want: "0s"},
		{give: -time.Hour, want: "0s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			diff(t, "formatted", tt.want, latch.FormatDuration(tt.give))
		})
	}
}

// TestDurationRoundTrip checks that what FormatDuration writes, ParseDuration
// reads back as the same duration.
func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{
		time.Second, 59 * time.Second, time.Minute, 90 * time.Second, 30 * time.Minute, time.Hour, 61 * time.Minute,
		time.Hour + time.Second, 4 * time.Hour, 23 * time.Hour, 24 * time.Hour, 36 * time.Hour, 7 * 24 * time.Hour,
		7*24*time.Hour + time.Minute, 365 * 24 * time.Hour,
	} {
		t.Run(d.String(), func(t *testing.T) {
			s := latch.FormatDuration(d)
			got, err := latch.ParseDuration(s)
			if err != nil {
				t.Fatalf("ParseDuration(FormatDuration(%v) = %q): %v", d, s, err)
			}
			diff(t, "duration read back from "+s, d, got)
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		name string
		typ  latch.FieldType
		give any
		want string
	}{
		{name: "duration", typ: latch.FieldDuration, give: int64(1800), want: "30m"},
		{name: "int", typ: latch.FieldInt, give: int64(1800), want: "1800"},
		{name: "strings", typ: latch.FieldStrings, give: []string{"a", "b"}, want: "a, b"},
		{name: "ints", typ: latch.FieldInts, give: []int64{1, 2}, want: "1, 2"},
		{name: "bool", typ: latch.FieldBool, give: true, want: "true"},
		{name: "string", typ: latch.FieldString, give: "x", want: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "formatted", tt.want, latch.FormatValue(tt.typ, tt.give))
		})
	}
}

func TestNormalizeFields(t *testing.T) {
	flow := func(fields []latch.Field, opts ...func(*latch.Flow)) *latch.Flow {
		return testFlow(append([]func(*latch.Flow){func(f *latch.Flow) { f.Fields = fields }}, opts...)...)
	}
	reason := latch.Field{Name: "reason", Type: latch.FieldString, Required: true}
	note := latch.Field{Name: "note", Type: latch.FieldString}
	level := latch.Field{Name: "level", Type: latch.FieldString, Default: "read"}
	durField := latch.Field{Name: latch.FieldNameDuration, Type: latch.FieldDuration, Default: int64(3600)}
	tests := []struct {
		name        string
		flow        *latch.Flow
		give        map[string]any
		want        map[string]any
		wantTarget  string
		wantDur     time.Duration
		wantDetails map[string]any
	}{
		{
			name:       "values normalized, defaults filled, the only target chosen, default duration",
			flow:       flow([]latch.Field{reason, note, level}),
			give:       map[string]any{"reason": "incident"},
			want:       map[string]any{"reason": "incident", "level": "read", latch.FieldNameTarget: targetID},
			wantTarget: targetID, wantDur: latch.DefaultDuration,
		},
		{
			name:       "the duration field sets the grant's length",
			flow:       flow([]latch.Field{durField}),
			give:       map[string]any{latch.FieldNameDuration: "4h"},
			want:       map[string]any{latch.FieldNameDuration: int64(4 * 3600), latch.FieldNameTarget: targetID},
			wantTarget: targetID, wantDur: 4 * time.Hour,
		},
		{
			name:       "the duration field's default sets the grant's length",
			flow:       flow([]latch.Field{{Name: latch.FieldNameDuration, Type: latch.FieldDuration, Default: int64(900)}}),
			give:       map[string]any{},
			want:       map[string]any{latch.FieldNameDuration: int64(900), latch.FieldNameTarget: targetID},
			wantTarget: targetID, wantDur: 15 * time.Minute,
		},
		{
			name:        "a missing required field",
			flow:        flow([]latch.Field{reason}),
			give:        map[string]any{},
			wantDetails: map[string]any{"reason": "is required"},
		},
		{
			name:        "an empty string counts as absent",
			flow:        flow([]latch.Field{reason}),
			give:        map[string]any{"reason": ""},
			wantDetails: map[string]any{"reason": "is required"},
		},
		{
			name:        "blank text counts as absent",
			flow:        flow([]latch.Field{reason}),
			give:        map[string]any{"reason": " \t\n"},
			wantDetails: map[string]any{"reason": "is required"},
		},
		{
			name:        "null counts as absent",
			flow:        flow([]latch.Field{reason}),
			give:        map[string]any{"reason": nil},
			wantDetails: map[string]any{"reason": "is required"},
		},
		{
			name:       "an empty string takes the default",
			flow:       flow([]latch.Field{level}),
			give:       map[string]any{"level": ""},
			want:       map[string]any{"level": "read", latch.FieldNameTarget: targetID},
			wantTarget: targetID, wantDur: latch.DefaultDuration,
		},
		{
			name:       "an optional field left out is left out",
			flow:       flow([]latch.Field{note}),
			give:       map[string]any{"note": ""},
			want:       map[string]any{latch.FieldNameTarget: targetID},
			wantTarget: targetID, wantDur: latch.DefaultDuration,
		},
		{
			name:        "unknown fields are named, each",
			flow:        flow([]latch.Field{note}),
			give:        map[string]any{"Note": "x", "extra": ""},
			wantDetails: map[string]any{"Note": "unknown field", "extra": "unknown field"},
		},
		{
			name:        "bad values are named with the reason, without the field prefix",
			flow:        flow([]latch.Field{reason, durField}),
			give:        map[string]any{"reason": float64(1), latch.FieldNameDuration: "-1h"},
			wantDetails: map[string]any{"reason": "want a string, got the number 1", latch.FieldNameDuration: `"-1h" is not a duration (write 30m, 4h or 1d)`},
		},
		{
			name:        "several targets need one named",
			flow:        flow(nil, targets("staging", "prod")),
			give:        map[string]any{},
			wantDetails: map[string]any{latch.FieldNameTarget: "is required: this flow has several targets"},
		},
		{
			name:       "one of several targets named",
			flow:       flow(nil, targets("staging", "prod")),
			give:       map[string]any{latch.FieldNameTarget: "prod"},
			want:       map[string]any{latch.FieldNameTarget: "prod"},
			wantTarget: "prod", wantDur: latch.DefaultDuration,
		},
		{
			name:        "a target the flow does not have",
			flow:        flow(nil),
			give:        map[string]any{latch.FieldNameTarget: "prod-root"},
			wantDetails: map[string]any{latch.FieldNameTarget: `"prod-root" is not a target of this flow`},
		},
		{
			name:       "a declared target field with a default picks among several targets",
			flow:       flow([]latch.Field{{Name: latch.FieldNameTarget, Type: latch.FieldString, Default: "staging"}}, targets("staging", "prod")),
			give:       map[string]any{},
			want:       map[string]any{latch.FieldNameTarget: "staging"},
			wantTarget: "staging", wantDur: latch.DefaultDuration,
		},
		{
			name:    "an approval-only flow has no target",
			flow:    flow([]latch.Field{note}, approvalOnly),
			give:    map[string]any{"note": "hi"},
			want:    map[string]any{"note": "hi"},
			wantDur: latch.DefaultDuration,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, target, dur, err := tt.flow.NormalizeFields(tt.give)
			if tt.wantDetails != nil {
				wantKindCode(t, err, latch.KindInvalid, "invalid_fields")
				var le *latch.Error
				if errors.As(err, &le) {
					diff(t, "details", tt.wantDetails, le.Details)
				}
				if got != nil || target != "" || dur != 0 {
					t.Errorf("NormalizeFields returned values with its error: %v %q %v", got, target, dur)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeFields: %v", err)
			}
			diff(t, "fields", tt.want, got)
			diff(t, "target", tt.wantTarget, target)
			diff(t, "duration", tt.wantDur, dur)
		})
	}

	t.Run("the message lists the problems in name order", func(t *testing.T) {
		_, _, _, err := flow([]latch.Field{reason}).NormalizeFields(map[string]any{"b": 1, "a": 1})
		diff(t, "message", "Some fields are not valid: a: unknown field; b: unknown field; reason: is required.", latch.ErrorMessageOf(err))
	})
}

func TestHooksURL(t *testing.T) {
	tests := []struct {
		point string
		want  string
	}{
		{point: latch.HookOnRequest, want: allHooks.OnRequest},
		{point: latch.HookOnApprove, want: allHooks.OnApprove},
		{point: latch.HookOnDeny, want: allHooks.OnDeny},
		{point: latch.HookAfterEscalate, want: allHooks.AfterEscalate},
		{point: latch.HookAfterDeescalate, want: allHooks.AfterDeescalate},
		{point: latch.HookGetIdentity, want: allHooks.GetIdentity},
		{point: "before_lunch", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.point, func(t *testing.T) {
			diff(t, "url", tt.want, allHooks.URL(tt.point))
			diff(t, "url when unset", "", latch.Hooks{}.URL(tt.point))
		})
	}
}

func TestFlowLookups(t *testing.T) {
	f := fieldsFlow(targets("staging", "prod"))
	tests := []struct {
		name string
		got  func() (any, bool)
		want any
		ok   bool
	}{
		{name: "a field by name", got: func() (any, bool) { return f.Field("priority") }, want: f.Fields[2], ok: true},
		{name: "a missing field", got: func() (any, bool) { return f.Field("Priority") }, want: latch.Field{}},
		{name: "a target by id", got: func() (any, bool) { return f.Target("prod") }, want: latch.Target{ID: "prod"}, ok: true},
		{name: "a missing target", got: func() (any, bool) { return f.Target("dev") }, want: latch.Target{}},
		{name: "no target without a strategy", got: func() (any, bool) { return testFlow(approvalOnly).Target(targetID) }, want: latch.Target{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.got()
			diff(t, "found", tt.ok, ok)
			diff(t, "value", tt.want, got)
		})
	}
}

func TestAllowsSource(t *testing.T) {
	tests := []struct {
		name    string
		sources []latch.Source
		give    latch.Source
		want    bool
	}{
		{name: "unset allows slack", give: latch.SourceSlack, want: true},
		{name: "unset allows api", give: latch.SourceAPI, want: true},
		{name: "empty allows no slack", sources: []latch.Source{}, give: latch.SourceSlack},
		{name: "empty allows no api", sources: []latch.Source{}, give: latch.SourceAPI},
		{name: "listed", sources: []latch.Source{latch.SourceSlack}, give: latch.SourceSlack, want: true},
		{name: "not listed", sources: []latch.Source{latch.SourceSlack}, give: latch.SourceAPI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &latch.Flow{Sources: tt.sources}
			diff(t, "allowed", tt.want, f.AllowsSource(tt.give))
		})
	}
}
