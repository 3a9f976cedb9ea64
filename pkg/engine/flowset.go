package engine

import (
	"slices"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// FlowSet is the loaded flows, by name. It is immutable.
type FlowSet struct {
	byName map[string]*latch.Flow
	names  []string
}

// NewFlowSet indexes flows by name. Names are unique (the loader checks).
func NewFlowSet(flows []*latch.Flow) *FlowSet {
	s := &FlowSet{byName: map[string]*latch.Flow{}}
	for _, f := range flows {
		s.byName[f.Name] = f
		s.names = append(s.names, f.Name)
	}
	slices.Sort(s.names)
	return s
}

// Get returns the flow named name, or a KindNotFound *Error listing the flows
// there are.
func (s *FlowSet) Get(name string) (*latch.Flow, error) {
	if f, ok := s.byName[name]; ok {
		return f, nil
	}
	known := "none are loaded"
	if len(s.names) > 0 {
		known = "known flows: " + strings.Join(s.names, ", ")
	}
	return nil, &latch.Error{Kind: latch.KindNotFound, Code: "flow_not_found",
		Message: "There is no flow \"" + name + "\" (" + known + ")."}
}

// All returns every flow, ordered by name.
func (s *FlowSet) All() []*latch.Flow {
	out := make([]*latch.Flow, len(s.names))
	for i, n := range s.names {
		out[i] = s.byName[n]
	}
	return out
}
