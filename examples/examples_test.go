// Package examples holds end-to-end examples of Latch flows, with their code
// and IAM policies; see each folder's README.
package examples

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/strategies"
)

// Every example's flow loads as Latch loads flows, with its strategy's
// settings check, and every policy is an IAM policy document in JSON.
func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob("*/flow.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no example flows found: %v", err)
	}
	for _, path := range dirs {
		t.Run(filepath.Dir(path), func(t *testing.T) {
			policies, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.json"))
			if len(policies) == 0 {
				t.Errorf("no IAM policy in %s", filepath.Dir(path))
			}
			for _, p := range policies {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				var doc struct {
					Version   string
					Statement []map[string]any
				}
				if err := json.Unmarshal(b, &doc); err != nil || doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
					t.Errorf("%s is not a policy document: %v", p, err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := flows.Parse(path, b, strategies.FlowOptions()); err != nil {
				if typ := strategyType(b); !slices.Contains(strategies.Types(), typ) {
					t.Skipf("strategy %q is not in this build (it has %v): the flow cannot be checked", typ, strategies.Types())
				}
				t.Fatal(err)
			}
		})
	}
}

// strategyType is the type a flow file names, read without the flow loader.
func strategyType(b []byte) string {
	var f struct {
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
	}
	_ = yaml.Unmarshal(b, &f)
	return f.Strategy.Type
}
