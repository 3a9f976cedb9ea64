package e2e

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// apiErrorSources are the packages whose errors the API answers with: its
// own, the engine's, the domain's, identity's and tokens'. (The stores'
// own codes guard their invariants; Slack's go to Slack.)
var apiErrorSources = []string{"../pkg/httpapi", "../pkg/engine", "../pkg/latch", "../pkg/identity", "../pkg/tokens"}

// notAnswered are codes those packages make that the API never answers
// with, and why.
var notAnswered = map[string]string{
	"unknown_command":      "engine.Handle of a command kind the engine lacks: commands come from code, not callers",
	"not_a_person_command": "engine.Check of a timer or runner command: the API sends only approve, deny, revoke, cancel and retry",
	"slow_down":            "the Slack app's rate limit",
	"request_exists":       "engine.ErrExists: POST /v1/requests answers a repeated Idempotency-Key with the first request",
	"missing_id":           "engine.Handle of a command without an id: the API gives each command one",
	"missing_user":         "latch.Create without a user: POST /v1/requests refuses an empty user_email first (missing_fields)",
	"identity_rule_failed": "identity resolution runs when a grant is made, and fails the request, not a call",
}

// errorCodes finds every (kind, code) the packages can return: calls of
// latch.Errorf(kind, code, ...) and latch.Error literals with Kind and
// Code, codes given as literals or as string constants.
func errorCodes(t *testing.T, dirs []string) map[string]latch.ErrorKind {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	consts := map[string]string{}
	for _, dir := range dirs {
		paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
			for _, d := range f.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, s := range gd.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[n.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
			}
		}
	}
	name := func(e ast.Expr) string {
		switch x := e.(type) {
		case *ast.Ident:
			return x.Name
		case *ast.SelectorExpr:
			return x.Sel.Name
		}
		return ""
	}
	value := func(e ast.Expr) (string, bool) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			return s, true
		}
		v, ok := consts[name(e)]
		return v, ok
	}
	kinds := map[string]latch.ErrorKind{
		"KindInvalid": latch.KindInvalid, "KindNotFound": latch.KindNotFound, "KindConflict": latch.KindConflict,
		"KindForbidden": latch.KindForbidden, "KindUnauthorized": latch.KindUnauthorized, "KindTooMany": latch.KindTooMany,
		"KindInternal": latch.KindInternal,
	}
	out := map[string]latch.ErrorKind{}
	add := func(pos token.Pos, kind ast.Expr, code ast.Expr) {
		k, kok := kinds[name(kind)]
		c, cok := value(code)
		if !kok || !cok {
			return // a kind or code passed through from elsewhere
		}
		if _, skip := notAnswered[c]; skip {
			return
		}
		if prev, ok := out[c]; ok && prev != k {
			t.Errorf("%s: code %q is used with kinds %s and %s", fset.Position(pos), c, prev, k)
		}
		out[c] = k
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				if name(x.Fun) == "Errorf" && len(x.Args) >= 2 {
					add(x.Pos(), x.Args[0], x.Args[1])
				}
			case *ast.CompositeLit:
				if name(x.Type) != "Error" {
					return true
				}
				var kind, code ast.Expr
				for _, el := range x.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						switch name(kv.Key) {
						case "Kind":
							kind = kv.Value
						case "Code":
							code = kv.Value
						}
					}
				}
				if kind != nil && code != nil {
					add(x.Pos(), kind, code)
				}
			}
			return true
		})
	}
	return out
}

// Every error the API can answer is in docs/openapi.yaml: its status has an
// Error<status> schema and the schema's code enum names it. So a new error
// code, or a new status, fails here until the document says it.
func TestOpenAPIHasEveryErrorCode(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Info.License == nil || doc.Info.License.Name != "Apache-2.0" {
		t.Errorf("info.license = %+v, want Apache-2.0", doc.Info.License)
	}
	codes := errorCodes(t, apiErrorSources)
	if len(codes) < 30 {
		t.Fatalf("found only %d error codes: %v", len(codes), codes)
	}
	var missing []string
	for code, kind := range codes {
		if _, ok := notAnswered[code]; ok {
			continue
		}
		status := httpapi.StatusOf(&latch.Error{Kind: kind, Code: code})
		schema := doc.Components.Schemas[fmt.Sprintf("Error%d", status)]
		if schema == nil {
			missing = append(missing, fmt.Sprintf("%d %s (no Error%d schema)", status, code, status))
			continue
		}
		enum := schema.Value.Properties["error"].Value.Properties["code"].Value.Enum
		if !slices.Contains(enum, any(code)) {
			missing = append(missing, fmt.Sprintf("%d %s", status, code))
		}
	}
	// Answers made without a latch.Error: the internal fault, readiness,
	// and a wrong method.
	for status, code := range map[int]string{500: "internal", 503: "not_ready", 405: "method_not_allowed"} {
		if s := doc.Components.Schemas[fmt.Sprintf("Error%d", status)]; s == nil ||
			!slices.Contains(s.Value.Properties["error"].Value.Properties["code"].Value.Enum, any(code)) {
			missing = append(missing, fmt.Sprintf("%d %s", status, code))
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("docs/openapi.yaml lacks errors the API can answer:\n  %s", strings.Join(missing, "\n  "))
	}
	if _, err := os.Stat(openAPIFile); err != nil {
		t.Fatal(err)
	}
}
