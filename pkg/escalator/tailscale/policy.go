package tailscale

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tailscale/hujson"
)

// The edits of the policy file. The file is HuJSON (JSON with comments and
// trailing commas) written by people, so an edit changes nothing but the
// one array it must: the file is parsed into hujson's syntax tree, which
// holds every comment, blank line and comma as bytes; the array of
// groups["group:NAME"] gains or loses one element; and the tree is packed
// again. Outside that array every byte is the same.
//
// Inside it, the added element copies the layout of its neighbours: one per
// line at their indentation when the last element is on a line of its own,
// else after ", " on the same line, with a trailing comma when the last
// element had one. Removing an element is the exact inverse of adding it,
// so a grant and its revoke give back the file byte for byte (the golden
// tests in testdata/ hold both directions). An element removed from a line
// of its own takes its line with it, and a comment on the rest of that line;
// a comment on a line above it stays.

// errNoGroup is returned (wrapped) by findGroup when the policy file has
// no such group.
var errNoGroup = errors.New("no such group")

// parsePolicy parses a policy file. The error names the line and column
// where the file stops being HuJSON.
func parsePolicy(raw []byte) (hujson.Value, error) {
	v, err := hujson.Parse(raw)
	if err != nil {
		return v, err // "hujson: line L, column C: ..."
	}
	if _, ok := v.Value.(*hujson.Object); !ok {
		return v, errors.New("the policy file is not a JSON object")
	}
	return v, nil
}

// member returns the value of the first member of obj named name, or nil.
func member(obj *hujson.Object, name string) (*hujson.Value, *hujson.Value) {
	for i := range obj.Members {
		m := &obj.Members[i]
		if lit, ok := m.Name.Value.(hujson.Literal); ok && lit.String() == name {
			return &m.Name, &m.Value
		}
	}
	return nil, nil
}

// group is one group's array in a parsed policy file.
type group struct {
	arr *hujson.Array
	// unit is one level of indentation in the groups object, for an element
	// added to an empty array written over several lines.
	unit string
}

// findGroup returns the array of groups["group:"+name] in the parsed
// policy file root. It returns an error wrapping errNoGroup when the file
// has no groups or no such group, and another error when the group is not
// an array.
func findGroup(root *hujson.Value, name string) (group, error) {
	obj := root.Value.(*hujson.Object)
	gName, groups := member(obj, "groups")
	if groups == nil {
		return group{}, fmt.Errorf("the policy file has no \"groups\": %w", errNoGroup)
	}
	gobj, ok := groups.Value.(*hujson.Object)
	if !ok {
		return group{}, errors.New(`"groups" in the policy file is not an object`)
	}
	key := groupPrefix + name
	mName, v := member(gobj, key)
	if v == nil {
		return group{}, fmt.Errorf("the policy file has no %q in \"groups\": %w", key, errNoGroup)
	}
	arr, ok := v.Value.(*hujson.Array)
	if !ok {
		return group{}, fmt.Errorf("groups[%q] in the policy file is not an array", key)
	}
	unit := "\t"
	outer, inner := lastLine(gName.BeforeExtra), lastLine(mName.BeforeExtra)
	if len(inner) > len(outer) && inner[:len(outer)] == outer && isBlank(inner) {
		unit = inner[len(outer):]
	}
	return group{arr: arr, unit: unit}, nil
}

// has reports whether the group lists login, exactly.
func (g group) has(login string) bool {
	for _, e := range g.arr.Elements {
		if isString(e, login) {
			return true
		}
	}
	return false
}

// add appends login to the group's array in the layout of the array.
func (g group) add(login string) {
	arr := g.arr
	e := hujson.Value{Value: hujson.String(login)}
	n := len(arr.Elements)
	if n == 0 {
		if i := bytes.LastIndexByte(arr.AfterExtra, '\n'); i >= 0 {
			// [ (comments) NEWLINE INDENT ]: the element goes on a line of
			// its own before the closing bracket, one level in, with a
			// trailing comma.
			closing := string(arr.AfterExtra[i:])
			e.BeforeExtra = join(arr.AfterExtra[:i], closing+g.unit)
			e.AfterExtra = []byte{}
			arr.AfterExtra = []byte(closing)
		} else if isBlank(string(arr.AfterExtra)) {
			// [] or [ ]: the element goes between the brackets, padded as
			// they were on both sides.
			e.BeforeExtra = bytes.Clone(arr.AfterExtra)
		} else {
			// [ /* comment */ ]: after the comment.
			e.BeforeExtra, arr.AfterExtra = arr.AfterExtra, nil
		}
		arr.Elements = append(arr.Elements, e)
		return
	}
	last := &arr.Elements[n-1]
	if last.AfterExtra != nil {
		e.AfterExtra = []byte{} // a trailing comma, as the last element had
	}
	if i := bytes.LastIndexByte(last.BeforeExtra, '\n'); i >= 0 && isBlank(string(last.BeforeExtra[i:])) {
		// One element per line: the new one goes on its own line, at the
		// last one's indentation, after any comment that follows the last
		// element and before the line of the closing bracket.
		indent := string(last.BeforeExtra[i:])
		if j := bytes.LastIndexByte(arr.AfterExtra, '\n'); j >= 0 {
			e.BeforeExtra = join(arr.AfterExtra[:j], indent)
			arr.AfterExtra = bytes.Clone(arr.AfterExtra[j:])
		} else {
			e.BeforeExtra = []byte(indent)
		}
	} else {
		sep := " "
		if n > 1 && isBlank(string(last.BeforeExtra)) {
			sep = string(last.BeforeExtra)
		}
		e.BeforeExtra = []byte(sep)
	}
	arr.Elements = append(arr.Elements, e)
}

// remove takes every element equal to login out of the group's array and
// reports how many there were.
func (g group) remove(login string) int {
	removed := 0
	for i := len(g.arr.Elements) - 1; i >= 0; i-- {
		if isString(g.arr.Elements[i], login) {
			g.removeAt(i)
			removed++
		}
	}
	return removed
}

// removeAt removes element i, the inverse of add.
func (g group) removeAt(i int) {
	arr := g.arr
	els := arr.Elements
	e := els[i]
	last := i == len(els)-1
	next := &arr.AfterExtra // the extra after e's comma
	if !last {
		next = &els[i+1].BeforeExtra
	}
	nl := bytes.LastIndexByte(e.BeforeExtra, '\n')
	firstNL := bytes.IndexByte(*next, '\n')
	switch {
	case nl >= 0 && isBlank(string(e.BeforeExtra[nl:])) && firstNL >= 0:
		// e has a line of its own: drop the line (and a comment after e
		// on it); what came before it stays.
		*next = join(e.BeforeExtra[:nl], string((*next)[firstNL:]))
	case !last:
		*next = bytes.Clone(e.BeforeExtra)
	case i == 0 && !bytes.Equal(e.BeforeExtra, arr.AfterExtra):
		// The only element, on the line of the brackets: what was on both
		// sides of it stays ("[ ]" when it was padded alike).
		arr.AfterExtra = join(e.BeforeExtra, string(arr.AfterExtra))
	}
	if last && i > 0 {
		// The element before becomes the last: it keeps a trailing comma
		// exactly when e had one.
		prev := &els[i-1]
		switch {
		case e.AfterExtra != nil && prev.AfterExtra == nil:
			prev.AfterExtra = []byte{}
		case e.AfterExtra == nil && prev.AfterExtra != nil:
			arr.AfterExtra = join(prev.AfterExtra, string(arr.AfterExtra))
			prev.AfterExtra = nil
		}
	}
	arr.Elements = append(els[:i:i], els[i+1:]...)
}

// isString reports whether v is the JSON string s.
func isString(v hujson.Value, s string) bool {
	lit, ok := v.Value.(hujson.Literal)
	return ok && lit.Kind() == '"' && lit.String() == s
}

// lastLine returns what follows the last newline of b, or "" when b has
// none.
func lastLine(b []byte) string {
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		return ""
	}
	return string(b[i+1:])
}

// isBlank reports whether s is only whitespace.
func isBlank(s string) bool {
	return len(bytes.TrimLeft([]byte(s), " \t\r\n")) == 0
}

// join returns a new slice holding a then b.
func join(a []byte, b string) []byte {
	out := make([]byte, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}
