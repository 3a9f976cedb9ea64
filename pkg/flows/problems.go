package flows

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a flow file.
type Problem struct {
	File   string // the file as named to Load, LoadFile or Parse
	Line   int    // 1-based line of the offending key or value; 0 when unknown
	Column int    // 1-based column; 0 when unknown
	Reason string // what is wrong and, where it helps, how to fix it; one line
}

// String returns "file:line: reason", or "file: reason" when the line is
// unknown.
func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Reason)
}

// Problems is every problem found in one or more flow files, ordered by file,
// line and column. Load, LoadFile and Parse return it as their error when a
// flow file is not valid.
type Problems struct {
	List []Problem
}

// Error returns one "file:line: reason" per line.
func (ps *Problems) Error() string {
	lines := make([]string, len(ps.List))
	for i, p := range ps.List {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (ps *Problems) sort() {
	slices.SortStableFunc(ps.List, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// errOrNil returns ps as an error, or nil when it holds no problem.
func (ps *Problems) errOrNil() error {
	if len(ps.List) == 0 {
		return nil
	}
	ps.sort()
	return ps
}

// ConfigError is an error a strategy validator (see Options.Strategies) may
// return, alone or joined with errors.Join, to point at one setting: the
// problem is then reported on that setting's line instead of the line of the
// strategy's type.
type ConfigError struct {
	Target string // a target id, for a key of that target's settings; "" for a key of the strategy itself
	Key    string // the key in the strategy or in the target's settings; "" for the target (or strategy) as a whole
	Reason string
}

// Error says which setting is wrong and why.
func (e *ConfigError) Error() string {
	var where string
	switch {
	case e.Target != "" && e.Key != "":
		where = fmt.Sprintf("target %q: settings.%s: ", e.Target, e.Key)
	case e.Target != "":
		where = fmt.Sprintf("target %q: ", e.Target)
	case e.Key != "":
		where = e.Key + ": "
	}
	return where + e.Reason
}
