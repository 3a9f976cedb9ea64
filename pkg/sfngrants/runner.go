package sfngrants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/latchhq/latch/pkg/latch"
)

// SFN is the part of the Step Functions client (*sfn.Client) the runner and
// the Hold task use.
type SFN interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, opts ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
}

// Callbacks completes Hold tasks through Step Functions. It implements
// Completer.
type Callbacks struct{ SFN SFN }

var _ Completer = Callbacks{}

// Complete sends SendTaskSuccess. A token whose task has ended (TaskTimedOut,
// TaskDoesNotExist) or that is not valid (InvalidToken) gives ErrTokenGone.
func (c Callbacks) Complete(ctx context.Context, token string, output []byte) error {
	_, err := c.SFN.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(output))})
	if err == nil {
		return nil
	}
	var timedOut *types.TaskTimedOut
	var missing *types.TaskDoesNotExist
	var invalid *types.InvalidToken
	if errors.As(err, &timedOut) || errors.As(err, &missing) || errors.As(err, &invalid) {
		return fmt.Errorf("%w: %v", ErrTokenGone, err)
	}
	return fmt.Errorf("sfngrants: send task success: %w", err)
}

// RunnerConfig is what a Runner is built from. All but Clock and Timing are
// required.
type RunnerConfig struct {
	SFN SFN
	// StateMachineARN is the grant state machine's ARN
	// (arn:aws:states:<region>:<account>:stateMachine:<name>).
	StateMachineARN string
	Grants          GrantReader
	Tokens          Tokens
	// Escalator returns the function (ARN or name) that escalates and
	// revokes the grant: the escalator function of its flow's strategy.
	Escalator func(ctx context.Context, g latch.Grant) (string, error)
	Clock     latch.Clock
	Timing    Timing
}

// Runner runs grant lifecycles on Step Functions: one execution per grant,
// named by the grant id. It implements latch.GrantRunner.
type Runner struct {
	c         RunnerConfig
	callbacks Callbacks
}

var _ latch.GrantRunner = (*Runner)(nil)

// NewRunner returns a Runner. It fails when a required field is missing or
// the state machine ARN is malformed.
func NewRunner(c RunnerConfig) (*Runner, error) {
	if c.SFN == nil || c.Grants == nil || c.Tokens == nil || c.Escalator == nil {
		return nil, errors.New("sfngrants: SFN, Grants, Tokens and Escalator are required")
	}
	if _, err := executionARN(c.StateMachineARN, "x"); err != nil {
		return nil, err
	}
	if c.Clock == nil {
		c.Clock = latch.SystemClock
	}
	c.Timing = c.Timing.orDefault()
	return &Runner{c: c, callbacks: Callbacks{SFN: c.SFN}}, nil
}

// Escalate starts the grant's execution, named by the grant id. Starting it
// again is not an error: Step Functions answers a running execution's
// repeated start as a success and any other with ExecutionAlreadyExists,
// which means the grant has (or had) its execution.
//
// Asked again for a grant still escalating whose execution has ended (it
// failed to report for a day, say), it starts another that escalates again
// (escalators are idempotent) and carries the grant on: see startAgain.
// Asked again while the execution waits in a Hold (the reconciler does so
// for a grant escalating for long: its escalated report was lost), it has
// the Hold look again (a Recheck), which sends the report again.
func (r *Runner) Escalate(ctx context.Context, grantID string) error {
	g, err := r.c.Grants.GetGrant(ctx, grantID)
	if err != nil {
		return fmt.Errorf("sfngrants: escalate %s: %w", grantID, err)
	}
	if g.Status != latch.GrantEscalating {
		return nil // escalated already, or closed
	}
	if err := r.startAgain(ctx, g, grantID, StartEscalate); err != nil {
		return err
	}
	tok, until, err := r.token(ctx, grantID)
	if err != nil || tok == "" || tok == RevokeOver {
		return err
	}
	a := Answer{Action: AnswerHold, Hold: &Hold{Until: until, Seconds: r.c.Timing.seconds(r.c.Timing.DueRecheck), Recheck: true}}
	if err := r.callbacks.Complete(ctx, tok, mustJSON(a)); err != nil && !errors.Is(err, ErrTokenGone) {
		return fmt.Errorf("sfngrants: escalate %s: %w", grantID, err)
	}
	return nil
}

// Deescalate revokes the grant's access. The grant's execution is woken
// through the task token of its Hold: if the token is current the execution
// revokes now; if it is stale the execution is not in a Hold, and its next
// Hold reads the grant after recording its token and revokes then (see the
// package documentation). Only when no execution will ever revoke — its
// revoke failed for good (RevokeOver), or the execution ended without one —
// is an execution started that only revokes, named by the grant id and
// version so that a repeated call starts it once.
func (r *Runner) Deescalate(ctx context.Context, grantID string) error {
	g, err := r.c.Grants.GetGrant(ctx, grantID)
	if err != nil {
		return fmt.Errorf("sfngrants: deescalate %s: %w", grantID, err)
	}
	if g.Status != latch.GrantDeescalating {
		return nil // revoked already, or never asked for
	}
	tok, _, err := r.token(ctx, grantID)
	if err != nil {
		return err
	}
	revokeOnly := fmt.Sprintf("%s-revoke-v%d", grantID, g.Version)
	if tok == RevokeOver {
		return r.startAgain(ctx, g, revokeOnly, StartRevoke)
	}
	if tok != "" {
		err := r.callbacks.Complete(ctx, tok, mustJSON(Answer{Action: AnswerDeescalate}))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrTokenGone) {
			return fmt.Errorf("sfngrants: deescalate %s: %w", grantID, err)
		}
	}
	arn, err := executionARN(r.c.StateMachineARN, grantID)
	if err != nil {
		return err
	}
	d, err := r.c.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	var missing *types.ExecutionDoesNotExist
	switch {
	case errors.As(err, &missing):
	case err != nil:
		return fmt.Errorf("sfngrants: deescalate %s: describe execution: %w", grantID, err)
	case d.Status == types.ExecutionStatusRunning && g.Failure != nil && g.Failure.Stage == latch.StageEscalate:
		// The grant's escalation failed and may have granted: its execution
		// is ending (it reported the failure) and will not revoke. Once it
		// has ended, a revoke-only execution is started; until then the
		// effect stays in the outbox and is retried.
		return fmt.Errorf("sfngrants: deescalate %s: its execution is still ending after the failed escalation; retry", grantID)
	case d.Status == types.ExecutionStatusRunning:
		// Before its next Hold, which will see the grant, or in its revoke.
		return nil
	}
	// Failed, timed out, aborted or never started: nothing will revoke.
	// Succeeded while the grant is still deescalating: it revoked, but its
	// report was lost; revoking again (idempotent) reports again.
	return r.startAgain(ctx, g, revokeOnly, StartRevoke)
}

// Wake moves the grant's Hold to at: it answers the current Hold with a new
// one, unless that Hold waits until at already and at is still to come (the
// usual case after the escalation is recorded: the Hold after the escalate
// task waits until the lease end, fixed at approval). A stale token is not
// an error: the next Hold reads the grant's next lease end itself.
func (r *Runner) Wake(ctx context.Context, grantID string, at time.Time) error {
	tok, until, err := r.token(ctx, grantID)
	if err != nil || tok == "" || tok == RevokeOver {
		return err
	}
	now := r.c.Clock.Now()
	if until == formatUntil(at) && at.After(now) {
		return nil
	}
	a := Answer{Action: AnswerHold, Hold: HoldFor(at, true, now, r.c.Timing)}
	if err := r.callbacks.Complete(ctx, tok, mustJSON(a)); err != nil && !errors.Is(err, ErrTokenGone) {
		return fmt.Errorf("sfngrants: wake %s: %w", grantID, err)
	}
	return nil
}

// token returns the grant's hold token and the end its Hold waits until;
// none is not an error.
func (r *Runner) token(ctx context.Context, grantID string) (tok, until string, err error) {
	tok, until, err = r.c.Tokens.HoldToken(ctx, grantID)
	if errors.Is(err, latch.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("sfngrants: hold token of %s: %w", grantID, err)
	}
	return tok, until, nil
}

func (r *Runner) start(ctx context.Context, g latch.Grant, name, start string) error {
	_, err := r.startNamed(ctx, g, name, start)
	return err
}

// startAgain starts the execution called name; when one of that name has
// ended already, the grant still needs what it was for (its report was
// lost, or it failed), so it starts another, named with the hour: the work
// is done again at most once an hour however often it is asked for (the
// reconciler asks every few minutes).
func (r *Runner) startAgain(ctx context.Context, g latch.Grant, name, start string) error {
	exists, err := r.startNamed(ctx, g, name, start)
	if err != nil || !exists {
		return err
	}
	arn, err := executionARN(r.c.StateMachineARN, name)
	if err != nil {
		return err
	}
	d, err := r.c.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("sfngrants: describe execution %s: %w", name, err)
	}
	if d.Status == types.ExecutionStatusRunning {
		return nil
	}
	_, err = r.startNamed(ctx, g, fmt.Sprintf("%s-h%d", name, r.c.Clock.Now().Unix()/3600), start)
	return err
}

// startNamed starts an execution; exists reports that one of that name was
// there already (Step Functions answers a repeated start of a running
// execution with the same input as a success: exists is then false).
func (r *Runner) startNamed(ctx context.Context, g latch.Grant, name, start string) (exists bool, err error) {
	if !validName(name) {
		return false, fmt.Errorf("sfngrants: %q cannot name an execution (at most 80 letters, digits, - and _)", name)
	}
	fn, err := r.c.Escalator(ctx, g)
	if err != nil {
		return false, fmt.Errorf("sfngrants: escalator function of grant %s: %w", g.ID, err)
	}
	in := mustJSON(Input{GrantID: g.ID, Escalator: fn, Start: start})
	_, err = r.c.SFN.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(r.c.StateMachineARN),
		Name: aws.String(name), Input: aws.String(string(in))})
	var already *types.ExecutionAlreadyExists
	if errors.As(err, &already) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("sfngrants: start execution %s: %w", name, err)
	}
	return false, nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func validName(s string) bool { return namePattern.MatchString(s) }

// executionARN is the ARN of the state machine's execution called name.
func executionARN(stateMachineARN, name string) (string, error) {
	parts := strings.Split(stateMachineARN, ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" || parts[6] == "" {
		return "", fmt.Errorf("sfngrants: %q is not a state machine ARN (arn:<partition>:states:<region>:<account>:stateMachine:<name>)", stateMachineARN)
	}
	parts[5] = "execution"
	return strings.Join(parts, ":") + ":" + name, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only this package's plain structs are marshalled
	}
	return b
}
