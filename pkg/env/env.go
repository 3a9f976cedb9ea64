// Package env reads settings from the environment the same way in latch
// server and in the Lambda functions.
package env

import (
	"os"
	"strings"
)

// List splits a comma-separated setting (LATCH_DOMAINS, SLACK_TEAM_IDS,
// LATCH_AUDIT_DATADOG_TAGS), trimming each item and dropping blanks.
func List(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Or returns the environment variable name, or def when it is unset or
// empty.
func Or(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
