package sfngrants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/latchhq/latch/events"
	"github.com/latchhq/latch/pkg/latch"
)

// StartSchedule is Input.Start for an execution that waits for a scheduled
// request's start (Input.StartsAt) and then sends its start command
// (latch.CmdStart) to the events queue: WaitForStart, SendStart, Done.
//
// It never touches a target, and needs nothing stopped when the request is
// cancelled: the engine judges the start command against the request as
// it then stands, in one conditional write, so a start that arrives after
// the cancel changes nothing and one that arrives before it leaves the
// cancel refused (the request is escalating). The sweep of
// reconcile.Expiries sends the same command (same id) for every scheduled
// request past its start, so a lost execution costs at most a sweep's
// delay.
const StartSchedule = "schedule"

// ActionStart is the grant-task function's action of SendStart: send the
// start command of TaskInput.RequestID.
const ActionStart = "start"

// Starts is the Scheduler of the AWS runtime for scheduled starts: a
// latch.CmdStart is started as an execution of the grant state machine
// named start-<request id> that waits until the start (StartSchedule);
// every other command goes to Next (reconcile.Expiries).
type Starts struct {
	SFN SFN
	// StateMachineARN is the grant state machine's ARN.
	StateMachineARN string
	Next            latch.Scheduler
}

var _ latch.Scheduler = (*Starts)(nil)

// StartExecutionName names the start execution of a request.
func StartExecutionName(requestID string) string { return "start-" + requestID }

// At starts the start execution for a CmdStart at at. Starting it again is
// not an error (an outbox replay): Step Functions answers a repeated start
// of a running execution with the same input as a success, and any other
// with ExecutionAlreadyExists, which means the request has had one.
func (s *Starts) At(ctx context.Context, at time.Time, cmd latch.Command) error {
	if cmd.Kind != latch.CmdStart {
		if s.Next == nil {
			return fmt.Errorf("sfngrants: no scheduler for %s", cmd.Kind)
		}
		return s.Next.At(ctx, at, cmd)
	}
	name := StartExecutionName(cmd.RequestID)
	if cmd.RequestID == "" || !validName(name) {
		return fmt.Errorf("sfngrants: %q cannot name a start execution (at most 80 letters, digits, - and _)", name)
	}
	in := mustJSON(Input{Start: StartSchedule, RequestID: cmd.RequestID, StartsAt: at.UTC().Format(time.RFC3339Nano)})
	_, err := s.SFN.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(s.StateMachineARN),
		Name: aws.String(name), Input: aws.String(string(in))})
	var already *types.ExecutionAlreadyExists
	if err != nil && !errors.As(err, &already) {
		return fmt.Errorf("sfngrants: start execution %s: %w", name, err)
	}
	return nil
}

// start sends the start command of in.RequestID, stamped now or at the
// start (in.StartsAt) if the function's clock is still a little before it:
// the engine treats a start stamped before the start as early and does
// nothing, and the sweep's backup, with the same id, would be dropped by
// the queue's deduplication.
func (h *TaskHandler) start(ctx context.Context, in TaskInput) (TaskOutput, error) {
	if in.RequestID == "" {
		return TaskOutput{}, &PermanentError{Code: "invalid_task", Message: "the start task names no request"}
	}
	at := h.now()
	if in.StartsAt != "" {
		startsAt, err := time.Parse(time.RFC3339Nano, in.StartsAt)
		if err != nil {
			return TaskOutput{}, &PermanentError{Code: "invalid_task", Message: fmt.Sprintf("the start task's starts_at %q is not an RFC 3339 time", in.StartsAt)}
		}
		if at.Before(startsAt) {
			at = startsAt
		}
	}
	rep, err := h.report(ctx, events.FromCommand(latch.StartCommand(in.RequestID, at)))
	if err != nil {
		return TaskOutput{}, err
	}
	return TaskOutput{Report: rep}, nil
}
