package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v4"
)

// configParser is the script that parses a packed orb with CircleCI's
// config parser (npm @circleci/circleci-config-parser, pinned in its
// package.json; `make tools` installs it).
const configParser = "../_tools/circleci-config-parser/parse-orb.js"

var includeRef = regexp.MustCompile(`^<<include\(([^)]+)\)>>$`)

// packOrb does what `circleci orb pack orb/src` does: @orb.yml, with each
// component file under its kind and name, and every <<include(path)>>
// value replaced by the file's text.
func packOrb(tb testing.TB) []byte {
	tb.Helper()
	var orb map[string]any
	readOrbYAML(tb, filepath.Join(orbSrc, "@orb.yml"), &orb)
	var include func(v any) any
	include = func(v any) any {
		switch x := v.(type) {
		case string:
			if m := includeRef.FindStringSubmatch(strings.TrimSpace(x)); m != nil {
				data, err := os.ReadFile(filepath.Join(orbSrc, m[1]))
				if err != nil {
					tb.Fatalf("include %s: %v", m[1], err)
				}
				return string(data)
			}
			return x
		case map[string]any:
			for k, e := range x {
				x[k] = include(e)
			}
		case []any:
			for i, e := range x {
				x[i] = include(e)
			}
		}
		return v
	}
	for _, kind := range []string{"commands", "jobs", "executors", "examples"} {
		comps := map[string]any{}
		for _, name := range orbNames(tb, kind) {
			var c map[string]any
			readOrbYAML(tb, filepath.Join(orbSrc, kind, name+".yml"), &c)
			comps[name] = include(c)
		}
		orb[kind] = comps
	}
	out, err := yaml.Marshal(orb)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// The packed orb parses with CircleCI's own config parser: every command,
// job and executor with the parameters its source declares, and each usage
// example as a config that uses the orb.
func TestOrbPackedParses(t *testing.T) {
	node, err := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(filepath.Dir(configParser), "node_modules", "@circleci", "circleci-config-parser"))
	if err != nil || modErr != nil {
		if os.Getenv("LATCH_REQUIRE_TOOLS") != "" {
			t.Fatal("node or @circleci/circleci-config-parser is missing and LATCH_REQUIRE_TOOLS is set; `make tools` installs it")
		}
		t.Skip("node or @circleci/circleci-config-parser is missing; `make tools` installs it")
	}
	packed := filepath.Join(t.TempDir(), "orb.yml")
	if err := os.WriteFile(packed, packOrb(t), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(node, configParser, packed)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("CircleCI's config parser refused the packed orb: %v\n%s", err, stderr.String())
	}
	var got struct {
		Commands, Jobs, Executors map[string][]string
		Examples                  map[string]struct{ Jobs, Workflows, Orbs []string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("parser output %q: %v", stdout.String(), err)
	}
	for kind, parsed := range map[string]map[string][]string{"commands": got.Commands, "jobs": got.Jobs, "executors": got.Executors} {
		names := orbNames(t, kind)
		if len(parsed) != len(names) {
			t.Errorf("%s: the parser found %d, the source has %v", kind, len(parsed), names)
		}
		for _, name := range names {
			var c struct {
				Parameters map[string]any `yaml:"parameters"`
			}
			readOrbYAML(t, filepath.Join(orbSrc, kind, name+".yml"), &c)
			var want []string
			for p := range c.Parameters {
				want = append(want, p)
			}
			slices.Sort(want)
			if p, ok := parsed[name]; !ok || !slices.Equal(p, want) {
				t.Errorf("%s/%s: the parser read parameters %v, the source declares %v", kind, name, p, want)
			}
		}
	}
	examples := orbNames(t, "examples")
	if len(got.Examples) != len(examples) {
		t.Errorf("examples: the parser read %d, the source has %v", len(got.Examples), examples)
	}
	for _, name := range examples {
		ex := got.Examples[name]
		if len(ex.Workflows) == 0 || !slices.Contains(ex.Orbs, "latch") {
			t.Errorf("example %s parsed as %+v; want a workflow using the latch orb", name, ex)
		}
	}
}
