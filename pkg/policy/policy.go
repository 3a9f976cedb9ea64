// Package policy compiles the CEL rules of flows (github.com/google/cel-go):
// approval rules, which decide whether a person may approve a request, and
// identity rules, which derive a user's id in a target system from the user;
// and the rules of bots, which say for whom a bot may speak.
//
// A rule is compiled and type-checked once, when flows are loaded; evaluating
// it is then cheap, does no I/O, is bounded by CostLimit and is safe for
// concurrent use.
package policy

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/ext"

	"github.com/latchhq/latch/pkg/latch"
)

// CostLimit bounds the work one evaluation of a rule may do, in CEL's cost
// units (roughly one per operation, more for string and list work). A rule that
// goes over it fails with an error instead of running away. Ordinary rules cost
// well under a hundred.
const CostLimit = 100_000

// MaxRuleLength is the longest rule source accepted, in characters.
const MaxRuleLength = 10_000

// The keys of the maps a rule sees. A rule that selects any other key of
// these maps with the dot syntax does not compile.
var (
	// UserKeys are the keys of approver, requester (approval rules) and user
	// (identity rules).
	UserKeys = []string{"email", "role", "id", "name", "kind"}
	// RequestKeys are the keys of request.
	RequestKeys = []string{"id", "flow", "fields", "context", "target_id", "source"}
	// FlowKeys are the keys of flow.
	FlowKeys = []string{"name", "label"}
)

// OnCallKey is the boolean approval rules see beside approver's and
// requester's keys: whether the flow's on-call source has the person on
// call (false when the flow names none, or the lookup failed).
const OnCallKey = "on_call"

// CompileError is a rule that does not compile: a syntax error, an unknown
// variable or key, or a result of the wrong type.
type CompileError struct {
	// Line and Column are 1-based and point into the rule's source at the
	// first problem; both are 0 when CEL does not say where it is.
	Line, Column int
	// Reason says what is wrong, on one line.
	Reason string
}

// Error returns "rule does not compile: " and the reason.
func (e *CompileError) Error() string { return "rule does not compile: " + e.Reason }

// RulePosition returns Line, Column and Reason (flows.RuleError): flow
// files report the error at the rule's own line and column.
func (e *CompileError) RulePosition() (line, column int, reason string) {
	return e.Line, e.Column, e.Reason
}

// Rule is a compiled approval rule: a boolean CEL expression over approver,
// requester, request and flow. It implements latch.Rule.
type Rule struct {
	src  string
	prog cel.Program
}

var _ latch.Rule = (*Rule)(nil)

// IdentityRule is a compiled identity rule: a string-valued CEL expression
// over user, such as user.email.split("@")[0].
type IdentityRule struct {
	src  string
	prog cel.Program
}

var (
	approvalEnv = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv(
			cel.Variable("approver", cel.MapType(cel.StringType, cel.StringType)),
			cel.Variable("requester", cel.MapType(cel.StringType, cel.StringType)),
			cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("flow", cel.MapType(cel.StringType, cel.StringType)),
			// Booleans beside the maps' strings: CEL resolves the longest
			// declared name first, so approver.on_call is this variable.
			cel.Variable("approver."+OnCallKey, cel.BoolType),
			cel.Variable("requester."+OnCallKey, cel.BoolType),
		)
	})
	identityEnv = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv(cel.Variable("user", cel.MapType(cel.StringType, cel.StringType)))
	})
	approvalKeys = map[string][]string{"approver": append(UserKeys[:len(UserKeys):len(UserKeys)], OnCallKey),
		"requester": append(UserKeys[:len(UserKeys):len(UserKeys)], OnCallKey), "request": RequestKeys, "flow": FlowKeys}
	identityKeys = map[string][]string{"user": UserKeys}
	botEnv       = sync.OnceValues(func() (*cel.Env, error) {
		return newEnv(
			cel.Variable("person", cel.MapType(cel.StringType, cel.StringType)),
			cel.Variable("bot", cel.MapType(cel.StringType, cel.StringType)),
		)
	})
	botKeys = map[string][]string{"person": UserKeys, "bot": UserKeys}
)

func newEnv(vars ...cel.EnvOption) (*cel.Env, error) {
	opts := append([]cel.EnvOption{
		ext.Strings(),
		cel.ParserExpressionSizeLimit(MaxRuleLength),
		cel.ParserRecursionLimit(100),
		cel.CrossTypeNumericComparisons(true),
	}, vars...)
	return cel.NewEnv(opts...)
}

// CompileRule compiles an approval rule. The rule must be a boolean
// expression; it sees:
//
//   - approver, requester: maps with email, role, id, name and kind (strings;
//     empty maps when the user is unknown)
//   - request: a map with id, flow, fields (the normalized field values:
//     strings, ints, bools, lists), context (a map), target_id and source
//   - flow: a map with name and label
//   - approver.on_call, requester.on_call: booleans, whether the flow's
//     on-call source has the person on call (RuleVars.OnCall)
//
// Besides CEL's standard functions, the string extensions (split, lowerAscii,
// replace, ...) are available. The rule returned is a *Rule; the error is a
// *CompileError.
func CompileRule(src string) (latch.Rule, error) {
	env, err := approvalEnv()
	if err != nil {
		return nil, fmt.Errorf("approval rule environment: %w", err)
	}
	prog, err := compile(env, src, cel.BoolType, approvalKeys)
	if err != nil {
		return nil, err
	}
	return &Rule{src: src, prog: prog}, nil
}

// CompileIdentityRule compiles an identity rule: an expression over user (a
// map with email, role, id, name and kind) that gives a string. The error is
// a *CompileError.
func CompileIdentityRule(src string) (*IdentityRule, error) {
	env, err := identityEnv()
	if err != nil {
		return nil, fmt.Errorf("identity rule environment: %w", err)
	}
	prog, err := compile(env, src, cel.StringType, identityKeys)
	if err != nil {
		return nil, err
	}
	return &IdentityRule{src: src, prog: prog}, nil
}

// BotRule is a compiled rule of a bot (may_request_for, may_decide_as): a
// boolean CEL expression over person, the person the bot names, and bot,
// the bot itself; both maps with email, role, id, name and kind.
type BotRule struct {
	src  string
	prog cel.Program
}

// CompileBotRule compiles a bot's rule, such as
// person.email.endsWith("@example.com") && person.role != "guest". The error
// is a *CompileError.
func CompileBotRule(src string) (*BotRule, error) {
	env, err := botEnv()
	if err != nil {
		return nil, fmt.Errorf("bot rule environment: %w", err)
	}
	prog, err := compile(env, src, cel.BoolType, botKeys)
	if err != nil {
		return nil, err
	}
	return &BotRule{src: src, prog: prog}, nil
}

// Source returns the rule as written.
func (r *BotRule) Source() string { return r.src }

// Eval evaluates the rule for person and bot (nil is seen as an empty map).
// It returns an error when evaluation fails: a type mismatch at run time or
// CostLimit exceeded.
func (r *BotRule) Eval(person, bot *latch.User) (bool, error) {
	out, _, err := r.prog.Eval(map[string]any{"person": userMap(person), "bot": userMap(bot)})
	if err != nil {
		return false, fmt.Errorf("evaluate bot rule: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluate bot rule: gave %s, not true or false", out.Type().TypeName())
	}
	return b, nil
}

func compile(env *cel.Env, src string, want *cel.Type, keys map[string][]string) (cel.Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &CompileError{Reason: "the rule is empty"}
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, issuesError(iss)
	}
	if err := checkKeys(ast, keys); err != nil {
		return nil, err
	}
	if got := ast.OutputType(); !got.IsExactType(want) {
		return nil, resultTypeError(got, want)
	}
	prog, err := env.Program(ast, cel.CostLimit(CostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &CompileError{Reason: oneLine(err.Error())}
	}
	return prog, nil
}

func issuesError(iss *cel.Issues) *CompileError {
	errs := iss.Errors()
	if len(errs) == 0 {
		return &CompileError{Reason: oneLine(iss.String())}
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		m := tidyMessage(e.Message)
		if !slices.Contains(msgs, m) {
			msgs = append(msgs, m)
		}
	}
	ce := &CompileError{Reason: oneLine(strings.Join(msgs, "; "))}
	if loc := errs[0].Location; loc != nil && loc.Line() > 0 {
		ce.Line, ce.Column = loc.Line(), loc.Column()+1
	}
	return ce
}

func resultTypeError(got, want *cel.Type) *CompileError {
	wantName := "true or false (bool)"
	if want.IsExactType(cel.StringType) {
		wantName = "a string"
	}
	if got.IsExactType(cel.DynType) {
		hint := "compare it explicitly, e.g. request.fields.urgent == true"
		if want.IsExactType(cel.StringType) {
			hint = "convert it, e.g. string(...)"
		}
		return &CompileError{Reason: fmt.Sprintf("the rule must give %s, but its type is only known when it runs; %s", wantName, hint)}
	}
	return &CompileError{Reason: fmt.Sprintf("the rule must give %s, not %s", wantName, got.String())}
}

// checkKeys rejects r.x where r is one of the rule's variables and x is not
// one of its keys, so a misspelt key fails at load rather than at every
// evaluation.
func checkKeys(ast *cel.Ast, keys map[string][]string) error {
	native := ast.NativeRep()
	var found *CompileError
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if found != nil || e.Kind() != celast.SelectKind {
			return
		}
		sel := e.AsSelect()
		op := sel.Operand()
		if op.Kind() != celast.IdentKind {
			return
		}
		allowed, ok := keys[op.AsIdent()]
		if !ok || slices.Contains(allowed, sel.FieldName()) {
			return
		}
		if t := native.GetType(op.ID()); t == nil || t.Kind() != cel.MapKind {
			return // a comprehension variable shadowing the name
		}
		found = &CompileError{Reason: fmt.Sprintf("%s has no key %q; it has %s", op.AsIdent(), sel.FieldName(), strings.Join(allowed, ", "))}
		if loc := native.SourceInfo().GetStartLocation(e.ID()); loc.Line() > 0 {
			found.Line, found.Column = loc.Line(), loc.Column()+1
		}
	}))
	if found != nil {
		return found
	}
	return nil
}

// tidyMessage shortens CEL's messages: no empty container, no list of every
// token the parser would have accepted.
func tidyMessage(m string) string {
	m = strings.ReplaceAll(m, " (in container '')", "")
	if i := strings.Index(m, " expecting {"); i >= 0 {
		m = m[:i]
	}
	m = strings.ReplaceAll(m, "mismatched input '<EOF>'", "unexpected end of rule")
	return strings.ReplaceAll(m, "'<EOF>'", "the end of the rule")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Source returns the rule as written.
func (r *Rule) Source() string { return r.src }

// Eval evaluates the rule. Nil users, request and flow are seen as empty
// maps. It returns an error when evaluation fails: a missing map key (such as
// a request field that was not filled in; test with has() first), a type
// mismatch at run time, or a rule that exceeds CostLimit.
func (r *Rule) Eval(vars latch.RuleVars) (bool, error) {
	out, _, err := r.prog.Eval(map[string]any{
		"approver":  userMap(vars.Approver),
		"requester": userMap(vars.Requester),
		"request":   requestMap(vars.Request),
		"flow":      flowMap(vars.Flow),

		"approver." + OnCallKey:  vars.OnCall.Approver,
		"requester." + OnCallKey: vars.OnCall.Requester,
	})
	if err != nil {
		return false, fmt.Errorf("evaluate rule: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluate rule: gave %s, not true or false", out.Type().TypeName())
	}
	return b, nil
}

// Source returns the rule as written.
func (r *IdentityRule) Source() string { return r.src }

// ErrEmptyIdentity is returned by IdentityRule.Eval when the rule gives an
// empty string: an empty identity never names anyone.
var ErrEmptyIdentity = latch.ErrEmptyIdentity

// Eval evaluates the rule for user (nil is seen as an empty map). It returns
// ErrEmptyIdentity when the result is empty, and an error when evaluation
// fails (an index out of range, a missing key, CostLimit exceeded).
func (r *IdentityRule) Eval(user *latch.User) (string, error) {
	out, _, err := r.prog.Eval(map[string]any{"user": userMap(user)})
	if err != nil {
		return "", fmt.Errorf("evaluate identity rule: %w", err)
	}
	s, ok := out.Value().(string)
	if !ok {
		return "", fmt.Errorf("evaluate identity rule: gave %s, not a string", out.Type().TypeName())
	}
	if s == "" {
		return "", ErrEmptyIdentity
	}
	return s, nil
}

func userMap(u *latch.User) map[string]string {
	if u == nil {
		return map[string]string{}
	}
	return map[string]string{
		"email": u.Email,
		"role":  string(u.Role),
		"id":    u.ID,
		"name":  u.Name,
		"kind":  string(u.Kind),
	}
}

func requestMap(r *latch.Request) map[string]any {
	if r == nil {
		return map[string]any{}
	}
	fields := map[string]any(r.Fields)
	if fields == nil {
		fields = map[string]any{}
	}
	ctx := r.Context
	if ctx == nil {
		ctx = map[string]any{}
	}
	return map[string]any{
		"id":        r.ID,
		"flow":      r.Flow,
		"fields":    fields,
		"context":   ctx,
		"target_id": r.TargetID,
		"source":    string(r.Source),
	}
}

func flowMap(f *latch.Flow) map[string]string {
	if f == nil {
		return map[string]string{}
	}
	return map[string]string{"name": f.Name, "label": f.Label}
}
