package latch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
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
		if i, ok := wholeNumber(x); ok {
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
			i, ok := wholeNumber(n)
			if !ok {
				return x, nil
			}
			out = append(out, i)
		}
		return out, nil
	}
	return v, nil
}

// wholeNumber returns n as an int64 when it is a whole number within range,
// however it is written: 3, 3.0 or 3e0.
func wholeNumber(n json.Number) (int64, bool) {
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}
