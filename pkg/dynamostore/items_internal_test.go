package dynamostore

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/latchhq/latch/pkg/latch"
)

// tagNames returns the names of t's fields under the given tag, sorted.
func tagNames(t reflect.Type, tag string) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Every field of a domain type has its attribute in the storage struct,
// under its JSON name: a field added to the domain and not here would be
// lost on every write.
func TestStorageStructsCoverTheDomain(t *testing.T) {
	pairs := []struct {
		domain, storage any
	}{
		{latch.Request{}, requestItem{}}, {latch.Grant{}, grantItem{}}, {latch.AuditEvent{}, auditItem{}},
		{latch.Effect{}, effectItem{}}, {latch.User{}, userItem{}}, {latch.Identity{}, identityItem{}},
		{latch.Domain{}, domainItem{}}, {latch.Token{}, tokenItem{}}, {latch.MessageRef{}, messageRefItem{}},
		{latch.UserRef{}, userRefItem{}}, {latch.Actor{}, actorItem{}}, {latch.Decision{}, decisionItem{}},
		{latch.Failure{}, failureItem{}}, {latch.Lease{}, leaseItem{}},
		{latch.PendingExtension{}, extensionItem{}},
		{latch.BreakGlassInfo{}, breakGlassItem{}},
	}
	for _, p := range pairs {
		d, s := reflect.TypeOf(p.domain), reflect.TypeOf(p.storage)
		if diff := cmp.Diff(tagNames(d, "json"), tagNames(s, "dynamodbav")); diff != "" {
			t.Errorf("%s: its storage struct %s does not have its fields (-domain +storage):\n%s", d, s, diff)
		}
	}
}

// Every field survives a round trip through the storage struct: filled with
// a value of its own, it comes back equal.
func TestStorageRoundTrip(t *testing.T) {
	for _, v := range []any{latch.Request{}, latch.Grant{}, latch.AuditEvent{}, latch.Effect{}, latch.User{},
		latch.Identity{}, latch.Domain{}, latch.Token{}, latch.MessageRef{}} {
		in := reflect.New(reflect.TypeOf(v))
		fill(in.Elem(), 1)
		av, err := marshalDoc(in.Elem().Interface())
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		out := reflect.New(reflect.TypeOf(v))
		if err := unmarshalDoc(av, out.Interface()); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if diff := cmp.Diff(in.Elem().Interface(), out.Elem().Interface()); diff != "" {
			t.Errorf("%T round trip (-in +out):\n%s", v, diff)
		}
	}
}

// fill sets every field of v, recursively, to a value that is not zero.
func fill(v reflect.Value, n int) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Date(2026, 11, 25, 9, 30, n, 123456789, time.UTC)))
		return
	}
	if v.Type() == reflect.TypeFor[latch.Fields]() {
		// The types latch.Fields holds.
		v.Set(reflect.ValueOf(latch.Fields{"s": "x", "n": int64(1) << 60, "f": 2.5, "b": true,
			"ss": []string{"a", "b"}, "ns": []int64{1, 2}, "empty": []string{}}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", n))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n+1)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), n+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		val := reflect.New(v.Type().Elem()).Elem()
		if v.Type().Elem().Kind() == reflect.Interface {
			val.Set(reflect.ValueOf(map[string]any{"nested": []any{"x", 2.5, true}}))
		} else {
			fill(val, n+1)
		}
		m.SetMapIndex(reflect.ValueOf(fmt.Sprintf("k%d", n)), val)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n+i+1)
			}
		}
	default:
		panic(fmt.Sprintf("fill: %s", v.Type()))
	}
}

// DirectoryPartitions are exactly the partitions of the items the edge
// functions write, and of no other.
func TestDirectoryPartitions(t *testing.T) {
	inDirectory := func(k key) bool {
		for _, p := range DirectoryPartitions {
			if strings.HasPrefix(k.pk, p) {
				return true
			}
		}
		return false
	}
	now := time.Now()
	edge := []key{userKey("a@example.com"), identityKey("a@example.com", "okta"), domainKey("example.com"),
		tokenKey("tok_1"), tokenHashKey("abc"), adminAuditKey(latch.AuditEvent{ID: "e1", At: now}), auditIDKey("e1")}
	core := []key{requestKey("r1"), auditKey("r1", "r1/1"), messageRefKey("r1", "approval", "C1"), grantKey("g1"),
		holdTokenKey("g1"), heldBeforeKey("g1"), openGrantKey("f/t/a"), effectKey("e1"), dedupKey("d1")}
	for _, k := range edge {
		if !inDirectory(k) {
			t.Errorf("%s: the edges write it, but it is not in DirectoryPartitions", k.pk)
		}
	}
	for _, k := range core {
		if inDirectory(k) {
			t.Errorf("%s: only the core functions write it, but it is in DirectoryPartitions", k.pk)
		}
	}
}

// A grant's HeldBefore keeps its three values apart: not checked (nil),
// false and true.
func TestGrantHeldBeforeRoundTrip(t *testing.T) {
	no, yes := false, true
	for _, held := range []*bool{nil, &no, &yes} {
		av, err := marshalDoc(latch.Grant{ID: "g1", HeldBefore: held})
		if err != nil {
			t.Fatal(err)
		}
		var got latch.Grant
		if err := unmarshalDoc(av, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(held, got.HeldBefore); diff != "" {
			t.Errorf("held_before round trip (-in +out):\n%s", diff)
		}
	}
}
