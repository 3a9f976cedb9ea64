// Package awslambda is the aws_lambda strategy: an escalator that grants and
// revokes access by invoking a Lambda function the customer writes, with the
// same JSON the webhook strategy posts (webhook.Payload). It is the webhook
// strategy for teams whose code already runs in AWS: no public endpoint, no
// shared secret, the call authorised by IAM.
//
// The contract the function implements (its input, its answers, how errors
// and repeats are treated) is documented in docs/strategies/aws_lambda.md.
package awslambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/latchhq/latch/pkg/awsconf"
	"github.com/latchhq/latch/pkg/escalator/webhook"
	"github.com/latchhq/latch/pkg/latch"
)

// Type is the strategy type this package implements.
const Type = "aws_lambda"

// Timeout bounds one Grant or Revoke: one synchronous invocation, with the
// SDK's own retries of throttling. A function that needs longer should hand
// the work on and answer.
const Timeout = 5 * time.Minute

// KeyFunctionARN is the strategy setting naming the function to invoke.
const KeyFunctionARN = "function_arn"

var knownKeys = []string{KeyFunctionARN, awsconf.KeyExternalID, awsconf.KeyRegion, awsconf.KeyRoleARN}

// Bounds on what Latch keeps of a function's answer: it is outside data.
const (
	// MaxAnswer is the largest answer read; a synchronous invocation
	// returns at most 6 MB.
	MaxAnswer = 6 << 20
	// MaxBody is the largest body, as JSON, kept as the step's output.
	MaxBody = 4096
	// MaxMessages is how many of an answer's error messages are kept, and
	// MaxMessage how many characters of each.
	MaxMessages = 10
	MaxMessage  = 500
)

// Error codes of the *latch.Error values Grant and Revoke return.
const (
	CodeRefused       = "aws_lambda_refused"        // the function answered {"errors": [...]}: permanent
	CodeFunctionError = "aws_lambda_function_error" // the function failed (X-Amz-Function-Error): retried
	CodeBadAnswer     = "aws_lambda_bad_answer"     // the answer is not the contract's: retried
	CodeInvokeFailed  = "aws_lambda_invoke_failed"  // Lambda refused or failed the call: as awsconf.Classify says
	CodeBadGrant      = "aws_lambda_bad_grant"      // the call cannot be made (no grant id, settings not JSON): permanent
	CodePanic         = "aws_lambda_panic"          // the escalator panicked: retried
)

// functionARN is a Lambda function ARN, optionally with a version or alias.
var functionARN = regexp.MustCompile(`^arn:(aws[a-z-]*):lambda:([a-z]{2}(?:-[a-z]+)+-\d{1,2}):(\d{12}):function:([A-Za-z0-9_-]{1,64})(?::(\$LATEST|[A-Za-z0-9_-]{1,128}))?$`)

// Invoker is the part of the Lambda client the escalator uses.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Escalator invokes a customer's Lambda function to grant and revoke access.
// It is safe for concurrent use.
//
// Grant and Revoke are idempotent per grant id by contract: the payload
// carries the grant id and the action, and the function must treat a repeat,
// or a grant already in the asked state, as success. The escalator never
// retries beyond the SDK's own retries of throttling: the grant runner owns
// retries and backoff.
type Escalator struct {
	client   Invoker
	function string
}

var (
	_ latch.Escalator      = (*Escalator)(nil)
	_ latch.OutputGranter  = (*Escalator)(nil)
	_ latch.IdentityLookup = (*Escalator)(nil)
)

// settings is a checked strategy config block.
type settings struct {
	function string
	region   string // the function ARN's
	aws      awsconf.Settings
}

// ValidateConfig checks an aws_lambda strategy's config block and targets,
// returning nil or every problem, joined with errors.Join, without a prefix.
// The config keys are function_arn (required: the function's ARN, with an
// optional version or alias), and awsconf's region, role_arn and
// external_id. Targets are those of the webhook strategy: an id, unique, and
// settings that can be sent as JSON.
func ValidateConfig(config map[string]any, targets []latch.Target) error {
	_, problems := parse(config)
	problems = append(problems, webhook.CheckTargets(targets)...)
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = errors.New(p)
	}
	return errors.Join(errs...)
}

func parse(config map[string]any) (settings, []string) {
	var s settings
	var problems []string
	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(knownKeys, k) {
			problems = append(problems, fmt.Sprintf("unknown key %q (the keys are %s)", k, strings.Join(knownKeys, ", ")))
		}
	}
	switch raw, ok := config[KeyFunctionARN]; {
	case !ok || raw == nil:
		problems = append(problems, "function_arn is required: the ARN of the Lambda function Latch invokes, such as arn:aws:lambda:eu-west-1:123456789012:function:latch-mysql")
	default:
		str, isString := raw.(string)
		m := functionARN.FindStringSubmatch(str)
		if !isString || m == nil {
			problems = append(problems, fmt.Sprintf("function_arn %s is not a Lambda function ARN such as arn:aws:lambda:eu-west-1:123456789012:function:latch-mysql (a version or alias may follow, :prod)", quoted(raw)))
			break
		}
		s.function, s.region = str, m[2]
	}
	a, err := awsconf.Parse(config)
	if err != nil {
		problems = append(problems, err.Error())
	}
	s.aws = a
	if s.aws.Region == "" {
		s.aws.Region = s.region // the function's region, unless told otherwise
	}
	return s, problems
}

// quoted shows a setting's value in a problem: text quoted and bounded.
func quoted(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", clean(s, 200))
	}
	return fmt.Sprintf("(a %T)", v)
}

// New returns an Escalator for an aws_lambda strategy's config block. It
// builds the Lambda client with awsconf (the default credential chain, the
// role to assume, the SDK's endpoint settings); no call is made until the
// first Grant or Revoke.
func New(ctx context.Context, config map[string]any) (*Escalator, error) {
	s, problems := parse(config)
	if len(problems) > 0 {
		return nil, fmt.Errorf("aws_lambda strategy: %s", strings.Join(problems, "; "))
	}
	cfg, err := s.aws.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws_lambda strategy: %w", err)
	}
	return NewWithClient(lambda.NewFromConfig(cfg), s.function), nil
}

// NewWithClient returns an Escalator that invokes function with client.
func NewWithClient(client Invoker, function string) *Escalator {
	return &Escalator{client: client, function: function}
}

// Grant invokes the function with action "escalate". It returns nil when the
// function answered without errors; an error marked latch.Permanent when it
// answered {"errors": [...]} with at least one entry (the messages in the
// error's Message), or when Lambda refused the call for good (no such
// function, access denied); and a plain, retried error when the function
// failed (an unhandled error or a timeout), Lambda throttled it or failed,
// or the answer broke the contract. Each is a *latch.Error with one of the
// Code constants, except when ctx itself is done.
func (e *Escalator) Grant(ctx context.Context, g latch.GrantSpec) error {
	_, err := e.GrantWithOutput(ctx, g)
	return err
}

// GrantWithOutput is Grant, also returning the body the function answered
// ({"body": {...}}), kept in the escalated audit event as the step's output;
// nil when it answered none. A body over MaxBody bytes as JSON is not kept:
// the output then says so.
func (e *Escalator) GrantWithOutput(ctx context.Context, g latch.GrantSpec) (map[string]any, error) {
	return e.call(ctx, webhook.ActionEscalate, g)
}

// FollowsEnd is true: the function is told the grant's end, so when it
// moves later Latch invokes escalate again for the same grant with the
// later end (latch.EndFollower).
func (e *Escalator) FollowsEnd() bool { return true }

// Revoke invokes the function with action "deescalate". Its results are
// those of Grant.
func (e *Escalator) Revoke(ctx context.Context, g latch.GrantSpec) error {
	_, err := e.call(ctx, webhook.ActionDeescalate, g)
	return err
}

// LookupIdentity is the strategy's lookup by email: like a webhook, the
// function knows people by their email unless a flow says otherwise.
func (e *Escalator) LookupIdentity(_ context.Context, email string) (string, error) {
	return email, nil
}

// answer is the function's answer, as the contract has it.
type answer struct {
	Errors json.RawMessage `json:"errors"`
	Body   json.RawMessage `json:"body"`
}

// functionError is the payload Lambda returns for an unhandled error.
type functionError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func (e *Escalator) call(ctx context.Context, action webhook.Action, g latch.GrantSpec) (output map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			output, err = nil, &latch.Error{Kind: latch.KindInternal, Code: CodePanic,
				Message: fmt.Sprintf("The aws_lambda escalator failed unexpectedly to %s grant %s.", action, g.GrantID),
				Err:     fmt.Errorf("panic: %v", r)}
		}
	}()
	if g.GrantID == "" {
		return nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant,
			Message: fmt.Sprintf("Cannot %s a grant without an id.", action)})
	}
	payload, err := json.Marshal(webhook.NewPayload(action, g))
	if err != nil {
		return nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeBadGrant,
			Message: fmt.Sprintf("Grant %s cannot be sent as JSON; check the target's settings and the request's fields.", g.GrantID),
			Err:     err})
	}
	what := fmt.Sprintf("%s grant %s", action, g.GrantID)
	out, err := e.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(e.function),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		classified := awsconf.Classify(err)
		le := &latch.Error{Kind: latch.KindInternal, Code: CodeInvokeFailed,
			Message: fmt.Sprintf("Invoking %s to %s failed.", e.function, what), Err: err}
		if latch.IsPermanent(classified) {
			return nil, latch.Permanent(le)
		}
		return nil, le
	}
	if len(out.Payload) > MaxAnswer {
		return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeBadAnswer,
			Message: fmt.Sprintf("The function's answer to %s is %d bytes, over the %d Latch reads.", what, len(out.Payload), MaxAnswer)}
	}
	if out.FunctionError != nil {
		var fe functionError
		_ = json.Unmarshal(out.Payload, &fe) // best effort: the message is shown when there is one
		msg := fmt.Sprintf("The function failed to %s (%s)", what, clean(aws.ToString(out.FunctionError), 40))
		if fe.ErrorType != "" || fe.ErrorMessage != "" {
			msg += fmt.Sprintf(": %s: %s", clean(fe.ErrorType, 100), clean(fe.ErrorMessage, MaxMessage))
		}
		return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeFunctionError, Message: msg + "."}
	}
	return readAnswer(out.Payload, what)
}

// readAnswer reads a function's answer: a refusal, a body, or nothing.
func readAnswer(payload []byte, what string) (map[string]any, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' {
		return nil, nil // null, or any answer that is not an object: done, nothing to keep
	}
	var a answer
	if err := json.Unmarshal(payload, &a); err != nil {
		return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeBadAnswer,
			Message: fmt.Sprintf("The function's answer to %s is not valid JSON.", what)}
	}
	if raw := bytes.TrimSpace(a.Errors); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var entries []json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeBadAnswer,
				Message: fmt.Sprintf("The function's answer to %s has errors that are not a list of messages.", what)}
		}
		if len(entries) > 0 {
			msgs := make([]string, 0, min(len(entries), MaxMessages))
			for _, en := range entries[:min(len(entries), MaxMessages)] {
				var s string
				if json.Unmarshal(en, &s) != nil {
					s = string(en) // an entry that is not text is shown as its JSON
				}
				msgs = append(msgs, clean(s, MaxMessage))
			}
			if more := len(entries) - len(msgs); more > 0 {
				msgs = append(msgs, fmt.Sprintf("(and %d more)", more))
			}
			return nil, latch.Permanent(&latch.Error{Kind: latch.KindInvalid, Code: CodeRefused,
				Message: fmt.Sprintf("The function refused to %s: %s", what, strings.Join(msgs, "; ")),
				Details: map[string]any{"errors": msgs}})
		}
	}
	raw := bytes.TrimSpace(a.Body)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeBadAnswer,
			Message: fmt.Sprintf("The function's answer to %s has a body that is not an object.", what)}
	}
	if len(raw) > MaxBody {
		return map[string]any{"omitted": fmt.Sprintf("the function's body was %d bytes; Latch keeps at most %d", len(raw), MaxBody)}, nil
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, &latch.Error{Kind: latch.KindInternal, Code: CodeBadAnswer,
			Message: fmt.Sprintf("The function's answer to %s has a body that is not valid JSON.", what)}
	}
	return body, nil
}

// clean makes outside text safe to show: control and bidi characters become
// spaces,
// invalid UTF-8 is replaced, and it is cut to at most n characters.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	count := 0
	for _, r := range s {
		if count == n {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			r = ' '
		}
		b.WriteRune(r)
		count++
	}
	return strings.TrimSpace(b.String())
}
