package tailscale

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tailscale/hujson"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// golden compares got with testdata/name (or writes it with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// edit parses policy, applies f to group name and packs the result.
func edit(t *testing.T, policy []byte, name string, f func(group)) []byte {
	t.Helper()
	v, err := parsePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	g, err := findGroup(&v, name)
	if err != nil {
		t.Fatal(err)
	}
	f(g)
	return v.Pack()
}

// arraySpan returns the offsets of group name's array (brackets included)
// in policy.
func arraySpan(t *testing.T, policy []byte, name string) (start, end int) {
	t.Helper()
	v, err := hujson.Parse(policy)
	if err != nil {
		t.Fatal(err)
	}
	a := v.Find("/groups/group:" + name)
	if a == nil {
		t.Fatalf("no group:%s", name)
	}
	return a.StartOffset, a.EndOffset
}

// TestGrantRevokeGolden: adding a login to each group of a policy file
// written by a person (comments, blank lines, trailing commas, arrays on one
// line and over several) changes only that group's array, in the layout of
// the array (golden files); taking it out again gives back the file byte for
// byte.
func TestGrantRevokeGolden(t *testing.T) {
	orig := readFile(t, "policy.hujson")
	for _, name := range []string{"sre", "eng", "db-admins", "prod-ssh", "break-glass", "legacy", "aligned"} {
		t.Run(name, func(t *testing.T) {
			granted := edit(t, orig, name, func(g group) { g.add("zoe@example.com") })
			golden(t, "grant-"+name+".hujson", granted)

			// Outside the group's array, not a byte changed.
			start, end := arraySpan(t, orig, name)
			gStart, gEnd := arraySpan(t, granted, name)
			if gStart != start || !bytes.Equal(granted[:start], orig[:start]) || !bytes.Equal(granted[gEnd:], orig[end:]) {
				t.Errorf("the grant changed bytes outside group:%s's array", name)
			}
			if !strings.Contains(string(granted[gStart:gEnd]), `"zoe@example.com"`) {
				t.Errorf("group:%s does not list the login after the grant:\n%s", name, granted[gStart:gEnd])
			}
			// The file is still a policy file: standard JSON once comments
			// and trailing commas are gone.
			if _, err := hujson.Standardize(bytes.Clone(granted)); err != nil {
				t.Errorf("the granted file does not parse: %v", err)
			}

			revoked := edit(t, granted, name, func(g group) {
				if n := g.remove("zoe@example.com"); n != 1 {
					t.Errorf("removed %d elements, want 1", n)
				}
			})
			if diff := cmp.Diff(string(orig), string(revoked)); diff != "" {
				t.Errorf("after grant and revoke the file differs from the original (-orig +revoked):\n%s", diff)
			}
		})
	}
}

// TestRemovePersonsEntries: removing logins a person wrote takes their line
// (and a comment on it) and keeps comments above; golden files.
func TestRemovePersonsEntries(t *testing.T) {
	orig := readFile(t, "policy.hujson")
	for _, tt := range []struct{ group, login, file string }{
		{"sre", "alice@example.com", "revoke-sre-alice.hujson"},       // first, with a comment after it
		{"sre", "carol@example.com", "revoke-sre-carol.hujson"},       // last, with a comment above it
		{"legacy", "hank@github", "revoke-legacy-hank.hujson"},        // last, no trailing comma
		{"eng", "dave@example.com", "revoke-eng-dave.hujson"},         // first on one line
		{"db-admins", "frank@example.com", "revoke-db-admins.hujson"}, // the only one
	} {
		t.Run(tt.file, func(t *testing.T) {
			got := edit(t, orig, tt.group, func(g group) {
				if n := g.remove(tt.login); n != 1 {
					t.Errorf("removed %d elements, want 1", n)
				}
			})
			golden(t, tt.file, got)
			if _, err := hujson.Standardize(bytes.Clone(got)); err != nil {
				t.Errorf("the file does not parse: %v", err)
			}
		})
	}
}

func TestFindGroup(t *testing.T) {
	for _, tt := range []struct {
		name, policy string
		wantNoGroup  bool
		wantErr      string
	}{
		{name: "no groups", policy: `{"acls": []}`, wantNoGroup: true},
		{name: "no such group", policy: `{"groups": {"group:other": []}}`, wantNoGroup: true},
		{name: "groups not an object", policy: `{"groups": []}`, wantErr: "not an object"},
		{name: "group not an array", policy: `{"groups": {"group:x": "a@b"}}`, wantErr: "not an array"},
		{name: "found", policy: `{"groups": {"group:x": ["a@b"]}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parsePolicy([]byte(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			_, err = findGroup(&v, "x")
			switch {
			case tt.wantNoGroup:
				if !errors.Is(err, errNoGroup) {
					t.Errorf("err = %v, want errNoGroup", err)
				}
			case tt.wantErr != "":
				if err == nil || errors.Is(err, errNoGroup) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestParsePolicyNamesThePosition(t *testing.T) {
	_, err := parsePolicy([]byte("{\n\t\"groups\": {\n\t\t\"group:x\": [\"a@b\" \"c@d\"],\n\t},\n}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3, column 21") {
		t.Errorf("err = %v, want the line and column", err)
	}
	if _, err := parsePolicy([]byte(`["not", "an", "object"]`)); err == nil {
		t.Error("an array parsed as a policy file")
	}
}

// FuzzAddRemove: for any policy file with the group, adding a login that is
// not there and removing it again gives back the file byte for byte, and the
// file in between parses and lists the login once.
func FuzzAddRemove(f *testing.F) {
	f.Add(readFile(f, "policy.hujson"))
	for _, s := range []string{
		`{"groups":{"group:x":[]}}`, `{"groups":{"group:x":[ ]}}`, "{\"groups\":{\"group:x\":[\n]}}",
		`{"groups":{"group:x":["a@b",]}}`, `{"groups":{"group:x":["a@b" ,]}}`, "{\"groups\":{\"group:x\":[\"a@b\" // c\n]}}",
		"{\"groups\":{\"group:x\":[/* c */ \"a@b\" /* d */]}}", "{\"groups\":{\"group:x\":[\n\"a@b\", /* c */ ]}}",
	} {
		f.Add([]byte(s))
	}
	const login = "zz@fuzz.example"
	f.Fuzz(func(t *testing.T, policy []byte) {
		v, err := parsePolicy(policy)
		if err != nil {
			return
		}
		orig := v.Pack()
		name := "x"
		g, err := findGroup(&v, name)
		if err != nil {
			name = "sre"
			if g, err = findGroup(&v, name); err != nil {
				return
			}
		}
		if g.has(login) {
			return
		}
		g.add(login)
		granted := v.Pack()
		w, err := parsePolicy(granted)
		if err != nil {
			t.Fatalf("after add the file does not parse: %v\n%s", err, granted)
		}
		g2, err := findGroup(&w, name)
		if err != nil || !g2.has(login) {
			t.Fatalf("after add the group does not list the login (%v):\n%s", err, granted)
		}
		if n := g2.remove(login); n != 1 {
			t.Fatalf("removed %d, want 1", n)
		}
		if got := w.Pack(); !bytes.Equal(got, orig) {
			t.Fatalf("add then remove changed the file:\n%q\n%q", orig, got)
		}
	})
}

// TestAddRemoveInvertsLayouts: over every layout of arrays of up to three
// elements built from a set of separators (none, spaces, newlines with
// indentation, blank lines, line and block comments), with and without a
// trailing comma, adding a login and removing it gives back the file byte
// for byte, and the file in between parses, lists the login, and has the
// same comments and blank lines.
func TestAddRemoveInvertsLayouts(t *testing.T) {
	seps := []string{"", " ", "\n\t\t", "\n\n\t\t", " // c\n\t\t", "\n\t\t// c\n\t\t", " /* c */ ", "\n\t"}
	var layouts []string
	var build func(prefix string, n int)
	build = func(prefix string, n int) {
		for _, tail := range seps {
			layouts = append(layouts, prefix+tail+"]")
			if n > 0 {
				layouts = append(layouts, prefix+","+tail+"]")
			}
		}
		if n == 3 {
			return
		}
		for _, sep := range seps {
			p := prefix
			if n > 0 {
				p += ","
			}
			build(p+sep+`"p`+string(rune('0'+n))+`@example.com"`, n+1)
		}
	}
	build("[", 0)
	tested := 0
	for _, arr := range layouts {
		policy := "{\n\t\"groups\": {\n\t\t\"group:x\": " + arr + ",\n\t},\n}\n"
		v, err := parsePolicy([]byte(policy))
		if err != nil {
			continue // e.g. a comma with no element before it
		}
		g, err := findGroup(&v, "x")
		if err != nil {
			t.Fatal(err)
		}
		tested++
		g.add("zoe@example.com")
		granted := v.Pack()
		w, err := parsePolicy(granted)
		if err != nil {
			t.Fatalf("%q: after add: %v\n%s", policy, err, granted)
		}
		g2, err := findGroup(&w, "x")
		if err != nil || !g2.has("zoe@example.com") {
			t.Fatalf("%q: after add the group lacks the login: %s", policy, granted)
		}
		for _, c := range []string{"//", "/*", "\n\n"} {
			if strings.Count(string(granted), c) != strings.Count(policy, c) {
				t.Errorf("%q: add changed the number of %q: %q", policy, c, granted)
			}
		}
		g2.remove("zoe@example.com")
		if got := string(w.Pack()); got != policy {
			t.Errorf("add then remove changed the file:\n%q\n%q\nvia %q", policy, got, granted)
		}
	}
	if tested < 1000 {
		t.Fatalf("only %d layouts tested", tested)
	}
}
