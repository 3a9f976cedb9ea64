package boltstore

import (
	"encoding/json"
	"hash/fnv"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/latch"
)

// fill sets every string, number, bool and time in v (recursing into
// structs, pointers and slices, one element each) to a value that is not
// zero, different per field, so that zeroing a field changes what is derived
// from it.
func fill(v reflect.Value, name string) {
	h := fnv.New32a()
	h.Write([]byte(name))
	n := int64(h.Sum32()%100000) + 1
	if v.Type() == reflect.TypeOf(time.Time{}) {
		v.Set(reflect.ValueOf(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("v-" + name)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(n)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), name)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), name+"."+v.Type().Field(i).Name)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), name+"[0]")
	}
}

func jsonNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		names = append(names, strings.Split(t.Field(i).Tag.Get("json"), ",")[0])
	}
	return names
}

// The commit path decodes only storedRequest of a stored request: the
// index entries it derives from that must be those of the whole request,
// and every field whose value changes them must be one it decodes.
func TestStoredRequestKeepsTheIndexedFields(t *testing.T) {
	for _, st := range []latch.Status{latch.StatusPending, latch.StatusScheduled, latch.StatusActive} {
		var r latch.Request
		fill(reflect.ValueOf(&r).Elem(), "r")
		r.Status = st
		r.Requester.Email = "a@example.com"
		derived := func(r latch.Request) string {
			at, ok := requestDue(r)
			return strings.Join([]string{fmtMap(requestIndex(r)), at.String(), boolString(ok)}, "|")
		}
		check := func(what string, r latch.Request) {
			data, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var s storedRequest
			if err := json.Unmarshal(data, &s); err != nil {
				t.Fatal(err)
			}
			if got, want := derived(s.request()), derived(r); got != want {
				t.Errorf("status %s, %s: from storedRequest %s, from the request %s", st, what, got, want)
			}
			if s.Version != r.Version {
				t.Errorf("version %d, want %d", s.Version, r.Version)
			}
		}
		check("all fields set", r)
		decoded := jsonNames(reflect.TypeOf(storedRequest{}))
		rt := reflect.TypeOf(r)
		for i := 0; i < rt.NumField(); i++ {
			z := r
			f := reflect.ValueOf(&z).Elem().Field(i)
			f.Set(reflect.Zero(f.Type()))
			name := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
			check(name+" zero", z)
			if derived(z) != derived(r) && !slices.Contains(decoded, name) {
				t.Errorf("status %s: the index entries depend on %s, which storedRequest does not decode", st, name)
			}
		}
	}
}

// Likewise for grants: storedGrant holds what their status, due and
// open-grant entries are made of.
func TestStoredGrantKeepsTheIndexedFields(t *testing.T) {
	for _, st := range []latch.GrantStatus{latch.GrantActive, latch.GrantDeescalating, latch.GrantEnded} {
		var g latch.Grant
		fill(reflect.ValueOf(&g).Elem(), "g")
		g.Status = st
		derived := func(g latch.Grant) string {
			at, ok := grantDue(g)
			return strings.Join([]string{g.ID, g.Key, string(statusKey(g)), at.String(), boolString(ok)}, "|")
		}
		check := func(what string, g latch.Grant) {
			data, err := json.Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			var s storedGrant
			if err := json.Unmarshal(data, &s); err != nil {
				t.Fatal(err)
			}
			if got, want := derived(s.grant()), derived(g); got != want {
				t.Errorf("status %s, %s: from storedGrant %s, from the grant %s", st, what, got, want)
			}
			if s.Version != g.Version {
				t.Errorf("version %d, want %d", s.Version, g.Version)
			}
		}
		check("all fields set", g)
		decoded := jsonNames(reflect.TypeOf(storedGrant{}))
		gt := reflect.TypeOf(g)
		for i := 0; i < gt.NumField(); i++ {
			z := g
			f := reflect.ValueOf(&z).Elem().Field(i)
			f.Set(reflect.Zero(f.Type()))
			name := strings.Split(gt.Field(i).Tag.Get("json"), ",")[0]
			check(name+" zero", z)
			if derived(z) != derived(g) && !slices.Contains(decoded, name) {
				t.Errorf("status %s: the index entries depend on %s, which storedGrant does not decode", st, name)
			}
		}
	}
}

func fmtMap(m map[string][]byte) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+string(v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
