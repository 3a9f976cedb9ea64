package flows

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v4"
)

// parser collects the problems of one file while its flow is read.
type parser struct {
	file     string
	opts     Options
	problems []Problem
}

func (p *parser) addf(n *yaml.Node, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	p.addAt(line, col, fmt.Sprintf(format, args...))
}

func (p *parser) addAt(line, col int, reason string) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Column: col, Reason: oneLine(reason)})
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// document reads the one YAML document of src. It returns nil, having
// recorded a problem, when src is not valid YAML, is empty, or holds more
// than one document.
func (p *parser) document(src []byte) (root *yaml.Node) {
	defer func() {
		if r := recover(); r != nil { // the YAML decoder must not take the caller down
			p.addAt(1, 0, fmt.Sprintf("invalid YAML: %v", r))
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.addAt(1, 0, "the file is empty; a flow file holds one flow")
			return nil
		}
		p.yamlError(err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		p.addf(&next, "a flow file holds one flow, but a second YAML document starts here")
		return nil
	case !errors.Is(err, io.EOF):
		p.yamlError(err)
		return nil
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		p.addAt(max(doc.Line, 1), 0, "the file is empty; a flow file holds one flow")
		return nil
	}
	root = doc.Content[0]
	p.replaceAliases(root)
	return root
}

func (p *parser) yamlError(err error) {
	var le *yaml.LoadError
	if errors.As(err, &le) {
		p.addAt(le.Mark.Line, le.Mark.Column, "invalid YAML: "+le.Message)
		return
	}
	msg := err.Error()
	if m := yamlLine().FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.addAt(line, 0, "invalid YAML: "+m[2])
		return
	}
	p.addAt(0, 0, "invalid YAML: "+strings.TrimPrefix(msg, "yaml: "))
}

// replaceAliases reports every alias (*name) and replaces it with null, so
// the rest of the parser never follows one: a flow is small enough to write
// out, and following aliases would let a small file expand enormously.
func (p *parser) replaceAliases(n *yaml.Node) {
	for _, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			p.addf(c, "aliases (*%s) are not supported in flow files; write the value out", c.Value)
			*c = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: c.Line, Column: c.Column}
			continue
		}
		p.replaceAliases(c)
	}
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// object is a YAML mapping read into keys, with the problems of its keys
// (duplicates, unknown keys, keys that are not text) already recorded.
type object struct {
	node *yaml.Node
	// at is the key the mapping is the value of, blamed for missing keys;
	// nil for the top level and list items.
	at   *yaml.Node
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
	// order lists the keys in file order.
	order []string
}

// object reads n as a mapping. where names it in messages ("" for the top
// level, "approval", `field "reason"`); known lists the keys allowed, nil
// meaning any key. It returns nil, having recorded a problem, when n is not a
// mapping.
func (p *parser) object(n *yaml.Node, where, what string, known []string) *object {
	if n.Kind != yaml.MappingNode {
		p.addf(n, "%s must be a mapping (key: value), not %s", what, describeNode(n))
		return nil
	}
	o := &object{node: n, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			p.addf(k, "a key%s must be text, not %s", in(where), describeNode(k))
			continue
		}
		name := k.Value
		if first, dup := o.keys[name]; dup {
			p.addf(k, "duplicate key %q%s (first at line %d)", name, in(where), first.Line)
			continue
		}
		if known != nil && !slices.Contains(known, name) {
			p.addf(k, "%s", unknownKey(name, where, known))
			continue
		}
		o.keys[name] = k
		o.vals[name] = v
		o.order = append(o.order, name)
	}
	return o
}

func in(where string) string {
	if where == "" {
		return ""
	}
	return " in " + where
}

func unknownKey(name, where string, known []string) string {
	if s, ok := suggest(name, known); ok {
		return fmt.Sprintf("unknown key %q%s; did you mean %q?", name, in(where), s)
	}
	return fmt.Sprintf("unknown key %q%s; the keys are %s", name, in(where), strings.Join(known, ", "))
}

// get returns the value of key, or nil when the key is absent or its value
// is null (a key with nothing after the colon counts as unset).
func (o *object) get(key string) *yaml.Node {
	if o == nil {
		return nil
	}
	v := o.vals[key]
	if isNull(v) {
		return nil
	}
	return v
}

// line returns the node to blame for key: the key itself, or, when it is
// absent, the key the mapping belongs to (or the mapping).
func (o *object) line(key string) *yaml.Node {
	if k, ok := o.keys[key]; ok {
		return k
	}
	if o.at != nil {
		return o.at
	}
	return o.node
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!bool":
			return n.Value
		case "!!int", "!!float":
			return "the number " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// text reads a scalar as text. Numbers and booleans are taken as written.
func (p *parser) text(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.addf(n, "%s must be text, not %s", what, describeNode(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.addf(n, "%s must be true or false, not %s", what, describeNode(n))
		return false, false
	}
	return b, true
}

func (p *parser) integer(n *yaml.Node, what string) (int64, bool) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
		p.addf(n, "%s must be a whole number, not %s", what, describeNode(n))
		return 0, false
	}
	return i, true
}

func (p *parser) list(n *yaml.Node, what, example string) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		p.addf(n, "%s must be a list%s, not %s", what, example, describeNode(n))
		return nil, false
	}
	return n.Content, true
}

// value converts n to a plain Go value: string, int64, float64, bool, nil,
// []any or map[string]any. Other scalars (timestamps, custom tags) are kept as
// written, as strings.
func (p *parser) value(n *yaml.Node, what string) (any, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, true
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				p.addf(n, "%s: %s is not true or false", what, n.Value)
				return nil, false
			}
			return b, true
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				p.addf(n, "%s: the number %s is out of range", what, n.Value)
				return nil, false
			}
			return i, true
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				p.addf(n, "%s: %s is not a number", what, n.Value)
				return nil, false
			}
			return f, true
		}
		return n.Value, true
	case yaml.SequenceNode:
		out, ok := make([]any, 0, len(n.Content)), true
		for _, c := range n.Content {
			v, vok := p.value(c, what)
			ok = ok && vok
			out = append(out, v)
		}
		return out, ok
	case yaml.MappingNode:
		o := p.object(n, what, what, nil)
		if o == nil {
			return nil, false
		}
		return p.values(o, what)
	}
	p.addf(n, "%s: unsupported YAML", what)
	return nil, false
}

// values converts every entry of o with value.
func (p *parser) values(o *object, what string) (map[string]any, bool) {
	out, ok := make(map[string]any, len(o.order)), len(o.order) == len(o.node.Content)/2
	for _, k := range o.order {
		v, vok := p.value(o.vals[k], what+"."+k)
		ok = ok && vok
		out[k] = v
	}
	return out, ok
}

// suggest returns the candidate closest to s, if one is close enough to be a
// likely misspelling.
func suggest(s string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := distance(strings.ToLower(s), c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 2
	if len(s) <= 4 {
		limit = 1
	}
	return best, bestDist >= 0 && bestDist <= limit
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
