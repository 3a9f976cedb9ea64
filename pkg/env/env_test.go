package env_test

import (
	"slices"
	"testing"

	"github.com/latchhq/latch/pkg/env"
)

func TestList(t *testing.T) {
	for give, want := range map[string][]string{
		"":                   nil,
		" , ,":               nil,
		"a.com":              {"a.com"},
		" a.com , b.com,, c": {"a.com", "b.com", "c"},
	} {
		if got := env.List(give); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", give, got, want)
		}
	}
}

func TestOr(t *testing.T) {
	t.Setenv("LATCH_ENV_TEST", "")
	if got := env.Or("LATCH_ENV_TEST", "def"); got != "def" {
		t.Errorf("empty: %q, want the default", got)
	}
	t.Setenv("LATCH_ENV_TEST", "set")
	if got := env.Or("LATCH_ENV_TEST", "def"); got != "set" {
		t.Errorf("set: %q", got)
	}
}
