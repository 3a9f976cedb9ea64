package latch

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Fields holds a request's normalized field values: string, int64, bool,
// int64 seconds for durations, []string and []int64. It decodes from JSON back
// into those types (whole numbers as int64, homogeneous lists as []string or
// []int64), so a request read from a store equals the one written.
type Fields map[string]any

// UnmarshalJSON decodes numbers as int64 where they are whole and lists into
// typed slices.
func (f *Fields) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	if raw == nil {
		*f = nil
		return nil
	}
	out := make(Fields, len(raw))
	for k, v := range raw {
		nv, err := fromJSONValue(v)
		if err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
		out[k] = nv
	}
	*f = out
	return nil
}

func fromJSONValue(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		return x.Float64()
	case []any:
		if len(x) == 0 {
			return []string{}, nil
		}
		if s, ok := x[0].(string); ok {
			out := []string{s}
			for _, e := range x[1:] {
				s, ok := e.(string)
				if !ok {
					return x, nil
				}
				out = append(out, s)
			}
			return out, nil
		}
		out := make([]int64, 0, len(x))
		for _, e := range x {
			n, ok := e.(json.Number)
			if !ok {
				return x, nil
			}
			i, err := n.Int64()
			if err != nil {
				return x, nil
			}
			out = append(out, i)
		}
		return out, nil
	}
	return v, nil
}
