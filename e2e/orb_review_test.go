package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The orb passes the review rules of CircleCI's orb-tools (review.bats) that
// need no network: RC001 a source_url, RC002 descriptions, RC003 and RC004
// descriptive examples, RC005 a detailed orb description, RC008 named run
// steps, RC009 long commands included from scripts, RC010 snake_case
// component and parameter names. (RC006 and RC007 fetch the URLs.)
func TestOrbReviewRules(t *testing.T) {
	var orb map[string]any
	readOrbYAML(t, filepath.Join(orbSrc, "@orb.yml"), &orb)
	display, _ := orb["display"].(map[string]any)
	if u, _ := display["source_url"].(string); !strings.HasPrefix(u, "https://") {
		t.Errorf("RC001: @orb.yml has no display.source_url")
	}
	if d, _ := orb["description"].(string); len(d) < 64 {
		t.Errorf("RC005: the orb's description is under 64 characters")
	}
	examples := orbNames(t, "examples")
	if len(examples) == 0 {
		t.Errorf("RC003: no usage example")
	}
	for _, kind := range []string{"jobs", "commands", "executors", "examples"} {
		for _, name := range orbNames(t, kind) {
			file := kind + "/" + name + ".yml"
			var c map[string]any
			readOrbYAML(t, filepath.Join(orbSrc, file), &c)
			if d, _ := c["description"].(string); strings.TrimSpace(d) == "" {
				t.Errorf("RC002: %s has no description", file)
			}
			if kind == "examples" {
				if strings.Contains(name, "example") {
					t.Errorf("RC004: %s: an example's name must say what it shows, not 'example'", file)
				}
				continue
			}
			if strings.Contains(name, "-") {
				t.Errorf("RC010: %s: component names are snake_case", file)
			}
			params, _ := c["parameters"].(map[string]any)
			for p := range params {
				if strings.Contains(p, "-") {
					t.Errorf("RC010: %s: parameter %q is not snake_case", file, p)
				}
			}
			steps, _ := c["steps"].([]any)
			for i, s := range steps {
				step, _ := s.(map[string]any)
				run, ok := step["run"]
				if !ok {
					continue
				}
				r, isMap := run.(map[string]any)
				if !isMap {
					t.Errorf("RC008: %s step %d: a run step written as a string has no name", file, i+1)
					continue
				}
				if n, _ := r["name"].(string); n == "" {
					t.Errorf("RC008: %s step %d: the run step has no name", file, i+1)
				}
				// orb-tools' default ORB_VAL_MAX_COMMAND_LENGTH is 64.
				if cmd, _ := r["command"].(string); len(cmd) > 64 && !strings.HasPrefix(cmd, "<<include(") {
					t.Errorf("RC009: %s step %d: a long command is not <<include(scripts/...)>>", file, i+1)
				}
			}
		}
	}
}

// The orb's scripts pass a plain shellcheck with no findings. Debian's
// shellcheck is installed by `make tools`.
func TestOrbShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("LATCH_REQUIRE_TOOLS") != "" {
			t.Fatal("shellcheck is not installed and LATCH_REQUIRE_TOOLS is set; `make tools` installs it")
		}
		t.Skip("shellcheck is not installed; `make tools` installs it")
	}
	scripts, err := filepath.Glob(filepath.Join(orbSrc, "scripts", "*.sh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	cmd := exec.Command(sc, append([]string{"--shell=bash", "--external-sources"}, scripts...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck found problems in the orb's scripts: %v\n%s", err, out)
	}
}
