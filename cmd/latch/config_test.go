package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// configRow is one row of docs/configuration.md's table.
type configRow struct {
	settings []string // flags and variables, e.g. --url, LATCH_URL, -v
	commands string
}

func readConfigTable(t *testing.T) []configRow {
	t.Helper()
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile("`([^`]+)`")
	var rows []configRow
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || strings.HasPrefix(strings.TrimSpace(cells[1]), "setting") || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		var r configRow
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			r.settings = append(r.settings, m[1])
		}
		r.commands = cells[2]
		rows = append(rows, r)
	}
	return rows
}

// Every flag of every command has a row naming the flag and the command.
func TestConfigReferenceHasEveryFlag(t *testing.T) {
	rows := readConfigTable(t)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.Hidden && c.Name() != "help" && c.Parent() != nil && c.Parent().Name() != "completion" {
			name := strings.TrimPrefix(c.CommandPath(), "latch ")
			client := c.LocalFlags().Lookup("verbose") != nil
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if f.Name == "help" {
					return
				}
				for _, r := range rows {
					if !slices.Contains(r.settings, "--"+f.Name) {
						continue
					}
					if strings.Contains(r.commands, "`"+name+"`") || client && strings.Contains(r.commands, "client commands") {
						return
					}
				}
				t.Errorf("docs/configuration.md has no row for --%s of latch %s", f.Name, name)
			})
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot())
}

// Every environment variable the code reads (a quoted LATCH_, SLACK_ or
// DD_ name in cmd/latch and pkg/, tests and the AWS store aside) has a row.
func TestConfigReferenceHasEveryVariable(t *testing.T) {
	rows := readConfigTable(t)
	documented := map[string]bool{}
	for _, r := range rows {
		for _, s := range r.settings {
			documented[s] = true
		}
	}
	name := regexp.MustCompile(`"((?:LATCH|SLACK|DD)_[A-Z0-9_]+)"`)
	found := map[string]string{}
	for _, root := range []string{".", "../../pkg"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "dynamostore" || d.Name() == "storetest" || strings.HasSuffix(d.Name(), "test")) {
				return filepath.SkipDir // the AWS store's settings are in aws.md; test helpers
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range name.FindAllStringSubmatch(string(src), -1) {
				found[m[1]] = path
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(found) < 10 {
		t.Fatalf("found only %d variables in the code: %v", len(found), found)
	}
	for v, path := range found {
		if !documented[v] {
			t.Errorf("%s (read in %s) is not in docs/configuration.md", v, path)
		}
	}
}
