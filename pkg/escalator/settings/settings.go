// Package settings holds the checks that strategies with one setting per
// target make of a flow's strategy block when flows load: unknown config
// keys, text values, and targets that each have an id, unique in the flow,
// and exactly that setting.
package settings

import (
	"fmt"
	"slices"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// UnknownKeys returns one problem for each key of cfg that is not in known,
// in key order.
func UnknownKeys(cfg map[string]any, known []string) []error {
	var errs []error
	for _, k := range sortedKeys(cfg) {
		if !slices.Contains(known, k) {
			errs = append(errs, fmt.Errorf("unknown key %q (the keys are %s)", k, strings.Join(known, ", ")))
		}
	}
	return errs
}

// Text reads cfg[key] as trimmed text: ok is false when the key is absent
// or null, and err says so when its value is not text.
func Text(cfg map[string]any, key string) (s string, ok bool, err error) {
	raw, present := cfg[key]
	if !present || raw == nil {
		return "", false, nil
	}
	s, isText := raw.(string)
	if !isText {
		return "", false, fmt.Errorf("%s must be text", key)
	}
	return strings.TrimSpace(s), true, nil
}

// Targets returns every problem of targets: a target without an id or
// listed twice, a target whose setting key check refuses, and a setting
// other than key.
func Targets(targets []latch.Target, key string, check func(latch.Target) error) []error {
	var errs []error
	seen := map[string]bool{}
	for i, t := range targets {
		switch {
		case strings.TrimSpace(t.ID) == "":
			errs = append(errs, fmt.Errorf("target %d has no id", i+1))
			continue
		case seen[t.ID]:
			errs = append(errs, fmt.Errorf("target %q is listed twice", t.ID))
			continue
		}
		seen[t.ID] = true
		if err := check(t); err != nil {
			errs = append(errs, fmt.Errorf("target %q: %w", t.ID, err))
		}
		for _, k := range sortedKeys(t.Settings) {
			if k != key {
				errs = append(errs, fmt.Errorf("target %q: unknown setting %q (the only one is %s)", t.ID, k, key))
			}
		}
	}
	return errs
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
