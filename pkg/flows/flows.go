// Package flows loads flows as code: YAML files, one flow per file, read into
// latch.Flow values. Every problem in every file is reported at once, each as
// "file:line: reason" (see Problems), and approval rules are compiled (package
// policy) while loading, so a flow that loads is ready to use.
//
// The file format is described in docs/flows.md.
package flows

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// Options configure loading.
type Options struct {
	// Strategies maps each strategy type the caller supports ("webhook",
	// "aws_iam", ...) to a function that checks the strategy's settings: its
	// config (every key of the strategy but type and targets) and its targets.
	// Such a function may return a *ConfigError, or several joined with
	// errors.Join, to point at one setting. It is called only when the rest of
	// the strategy is valid.
	//
	// A strategy whose type is not in the map is a problem. When Strategies is
	// nil, any type is accepted and nothing strategy-specific is checked (for
	// tools that need only the shape of flows).
	Strategies map[string]func(config map[string]any, targets []latch.Target) error

	// Rules compiles the flows' rules (see RuleCompiler); nil means
	// DefaultRules, or Uncompiled when that is not set either.
	Rules RuleCompiler
}

// Load reads every *.yaml and *.yml file of dir (not its subdirectories, and
// not files whose names start with "."), one flow per file, and returns the
// flows ordered by file name. When any file has a problem, or two files name
// the same flow, it returns nil and a *Problems listing every problem of every
// file. A directory that cannot be read is an ordinary error; one with no
// flow files gives no flows and no error.
func Load(dir string, opts Options) ([]*latch.Flow, error) {
	files, err := dirFiles(dir)
	if err != nil {
		return nil, err
	}
	return loadFiles(files, opts)
}

// LoadPaths reads flows from files and directories: each directory as Load
// reads it, and each file named, whatever its extension. Flows are ordered
// as the paths are, a directory's by file name; a file named twice is read
// once. Problems, duplicate flow names across all the paths included, are
// reported as Load reports them. A path that cannot be read is an ordinary
// error; paths with no flow files give no flows and no error.
func LoadPaths(paths []string, opts Options) ([]*latch.Flow, error) {
	var files []string
	seen := map[string]bool{}
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("load flows: %w", err)
		}
		more := []string{path}
		if info.IsDir() {
			if more, err = dirFiles(path); err != nil {
				return nil, err
			}
		}
		for _, f := range more {
			if key := filepath.Clean(f); !seen[key] {
				seen[key] = true
				files = append(files, f)
			}
		}
	}
	return loadFiles(files, opts)
}

// dirFiles lists the flow files of dir, by name.
func dirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load flows: %w", err)
	}
	var files []string
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !isFlowFile(name) {
			continue
		}
		files = append(files, filepath.Join(dir, name))
	}
	return files, nil
}

// loadFiles reads one flow from each file, reporting every problem at once.
func loadFiles(files []string, opts Options) ([]*latch.Flow, error) {
	var (
		flows    []located
		problems Problems
	)
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("load flows: %w", err)
		}
		lf, ps := parse(path, src, opts)
		problems.List = append(problems.List, ps...)
		if lf.flow != nil {
			flows = append(flows, lf)
		}
	}
	problems.List = append(problems.List, duplicateNames(flows)...)
	if err := problems.errOrNil(); err != nil {
		return nil, err
	}
	out := make([]*latch.Flow, len(flows))
	for i, lf := range flows {
		out[i] = lf.flow
	}
	return out, nil
}

func isFlowFile(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

// duplicateNames reports, in each file, the other files that use its flow's
// name.
func duplicateNames(flows []located) []Problem {
	byName := map[string][]located{}
	for _, lf := range flows {
		if lf.flow.Name != "" {
			byName[lf.flow.Name] = append(byName[lf.flow.Name], lf)
		}
	}
	var out []Problem
	for _, lf := range flows {
		same := byName[lf.flow.Name]
		if len(same) < 2 {
			continue
		}
		var others []string
		for _, o := range same {
			if o.flow.File != lf.flow.File {
				others = append(others, fmt.Sprintf("%s:%d", o.flow.File, o.nameLine))
			}
		}
		out = append(out, Problem{File: lf.flow.File, Line: lf.nameLine,
			Reason: fmt.Sprintf("flow name %q is also used by %s; flow names must be unique", lf.flow.Name, strings.Join(others, ", "))})
	}
	return out
}

// LoadFile reads one flow file. When the file has problems, it returns nil
// and a *Problems listing all of them. A file that cannot be read is an
// ordinary error.
func LoadFile(path string, opts Options) (*latch.Flow, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load flow: %w", err)
	}
	return Parse(path, src, opts)
}

// Parse reads one flow from src; file names it in problems and becomes the
// flow's File. When src has problems, it returns nil and a *Problems listing
// all of them.
func Parse(file string, src []byte, opts Options) (*latch.Flow, error) {
	lf, ps := parse(file, src, opts)
	problems := Problems{List: ps}
	if err := problems.errOrNil(); err != nil {
		return nil, err
	}
	return lf.flow, nil
}

// parse reads one flow; the flow is nil when there are problems.
func parse(file string, src []byte, opts Options) (located, []Problem) {
	p := &parser{file: file, opts: opts}
	root := p.document(src)
	if root == nil {
		return located{}, p.problems
	}
	lf := p.flow(root)
	if len(p.problems) > 0 {
		// Keep the name, so duplicate names are still found across files.
		if lf.flow != nil && lf.flow.Name != "" {
			return located{flow: &latch.Flow{Name: lf.flow.Name, File: file}, nameLine: lf.nameLine}, p.problems
		}
		return located{}, p.problems
	}
	return lf, nil
}
