package sfngrants

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Resources are what the state machine refers to. The CDK app passes its
// tokens (unresolved ARNs and URLs) here: Definition only places them in
// strings.
type Resources struct {
	// GrantTaskFunction is the ARN (or name) of the function that runs the
	// Hold and failure-report tasks (TaskHandler). The escalate and revoke
	// tasks invoke the function named in the execution input (Input.Escalator).
	// The tasks send their reports to the events queue themselves.
	GrantTaskFunction string
	// DeadLetterQueueURL receives a DeadLetter when an execution fails for
	// good; DeadLetterFIFO says whether it is a FIFO queue (a FIFO queue's
	// dead-letter queue is one), so that a group and deduplication id are sent.
	DeadLetterQueueURL string
	DeadLetterFIFO     bool
}

// Timing is how the state machine, its tasks and the runner retry and wait.
// Zero fields take DefaultTiming's.
type Timing struct {
	// RetryInitial is the first wait before a retry; it doubles each time up
	// to RetryMax.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// EscalateAttempts is how often a grant is tried before it fails.
	EscalateAttempts int
	// RevokeFor is how long one execution retries a revoke, on every error,
	// before it reports the failure (the engine keeps the grant deescalating
	// and a revoke-only execution goes on: a revoke is never given up); also
	// how long sending a report and the Hold task are retried.
	RevokeFor time.Duration
	// RevokeFastMax is the longest wait between revoke attempts during the
	// first RevokeFastFor; after that they are RetryMax apart.
	RevokeFastMax time.Duration
	RevokeFastFor time.Duration
	// MaxHold is the longest a Hold waits before it looks at the grant again:
	// the bound on how late a lease end is noticed if a wake-up is lost.
	MaxHold time.Duration
	// DueRecheck is how long a Hold waits for the engine's answer to a due
	// report before it reports due again (the timeout of Due's Hold), and
	// how long a grant may stay escalating before a Hold that looks again
	// sends the escalated report again.
	DueRecheck time.Duration
}

// DefaultTiming retries as pkg/local.DefaultBackoff does: a grant 6 times
// over about a minute; a revoke with waits of at most 30 seconds for the
// first hour, then five minutes, for a day per execution.
// A Hold looks at its grant at least daily, and every 15 minutes while it
// waits for the engine's answer to a due it reported.
var DefaultTiming = Timing{RetryInitial: time.Second, RetryMax: 5 * time.Minute, EscalateAttempts: 6,
	RevokeFor: 24 * time.Hour, RevokeFastMax: 30 * time.Second, RevokeFastFor: time.Hour,
	MaxHold: 24 * time.Hour, DueRecheck: 15 * time.Minute}

func (t Timing) orDefault() Timing {
	d := DefaultTiming
	if t.RetryInitial > 0 {
		d.RetryInitial = t.RetryInitial
	}
	if t.RetryMax > 0 {
		d.RetryMax = t.RetryMax
	}
	if t.EscalateAttempts > 0 {
		d.EscalateAttempts = t.EscalateAttempts
	}
	if t.RevokeFor > 0 {
		d.RevokeFor = t.RevokeFor
	}
	if t.MaxHold > 0 {
		d.MaxHold = t.MaxHold
	}
	if t.RevokeFastMax > 0 {
		d.RevokeFastMax = t.RevokeFastMax
	}
	if t.RevokeFastFor > 0 {
		d.RevokeFastFor = t.RevokeFastFor
	}
	if t.DueRecheck > 0 {
		d.DueRecheck = t.DueRecheck
	}
	return d
}

// seconds is d in whole seconds, rounded up, at least 1.
func (t Timing) seconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}

// retriesFor is how many retries, waiting initial, 2×initial, … up to most
// between them, it takes for the waits to add up to at least total.
func retriesFor(initial, most, total int64) int64 {
	var n, sum int64
	wait := initial
	for sum < total {
		sum += wait
		n++
		wait = min(wait*2, most)
	}
	return max(n, 1)
}

// Input is an execution's input, written by the Runner.
type Input struct {
	GrantID string `json:"grant_id"`
	// Escalator is the function (ARN or name) the escalate and revoke tasks
	// invoke: the escalator of the grant's strategy.
	Escalator string `json:"escalator"`
	// Start is StartEscalate for a grant's execution, StartRevoke for an
	// execution that only revokes (after the grant's own execution ended),
	// StartSchedule for one that waits for a scheduled request's start.
	Start string `json:"start"`
	// RequestID and StartsAt (RFC 3339) are set for StartSchedule, and
	// GrantID and Escalator are not.
	RequestID string `json:"request_id,omitempty"`
	StartsAt  string `json:"starts_at,omitempty"`
}

// Where an execution starts.
const (
	StartEscalate = "escalate"
	StartRevoke   = "revoke"
)

// DeadLetter is the message an execution that fails for good sends to the
// dead-letter queue: the grant, the execution, the stage that failed
// ("escalate", "hold", "deescalate") and the last error.
type DeadLetter struct {
	GrantID   string       `json:"grant_id"`
	Execution string       `json:"execution"`
	Stage     string       `json:"stage"`
	Error     *StatesError `json:"error"`
}

// The states of the state machine, named so tests and dashboards can refer
// to them.
const (
	StateStart                = "Start"
	StateEscalate             = "Escalate"
	StateEscalateWait         = "EscalateWait"
	StateEscalateAgain        = "EscalateAgain"
	StateCleanUp              = "CleanUp"
	StateEscalationFailed     = "EscalationFailed"
	StateEscalationFailedHeld = "EscalationFailedHeld"
	StateHold                 = "Hold"
	StateDue                  = "Due"
	StateAnswer               = "Answer"
	StateFreshHold            = "FreshHold"
	StateRevoke               = "Revoke"
	StateRevokeSlow           = "RevokeSlow"
	StateDeescalationFailed   = "DeescalationFailed"
	StateEscalateLost         = "EscalateLost"
	StateHoldLost             = "HoldLost"
	StateRevokeLost           = "RevokeLost"
	StateSendToDeadLetter     = "SendToDeadLetter"
	StateDone                 = "Done"
	StateWaitForStart         = "WaitForStart" // StartSchedule: until Input.StartsAt
	StateSendStart            = "SendStart"    // StartSchedule: send the request's start command
	StateFailed               = "Failed"
	// StateRegrant sends an active grant to its target again with its
	// later end (an extension), then holds until its next lease end.
	StateRegrant = "Regrant"
)

// FailedError is the error a failed execution ends with.
const FailedError = "Latch.GrantLifecycleFailed"

// Definition returns the state machine's Amazon States Language definition
// with DefaultTiming.
func Definition(r Resources) (string, error) { return DefinitionWith(r, Timing{}) }

// DefinitionWith returns the state machine's definition with the given timing.
func DefinitionWith(r Resources, t Timing) (string, error) {
	if r.GrantTaskFunction == "" || r.DeadLetterQueueURL == "" {
		return "", errors.New("sfngrants: GrantTaskFunction and DeadLetterQueueURL are required")
	}
	t = t.orDefault()
	initial, most := t.seconds(t.RetryInitial), t.seconds(t.RetryMax)
	// retry is a Retry rule that waits initial, doubling up to most, n times.
	retry := func(errs []string, n int64) map[string]any {
		return map[string]any{"ErrorEquals": errs, "IntervalSeconds": initial, "BackoffRate": 2.0,
			"MaxDelaySeconds": most, "MaxAttempts": n}
	}
	long := retriesFor(initial, most, t.seconds(t.RevokeFor))
	never := func(errs ...string) map[string]any { return map[string]any{"ErrorEquals": errs, "MaxAttempts": 0} }
	catch := func(next string, errs ...string) map[string]any {
		return map[string]any{"ErrorEquals": errs, "ResultPath": "$.error", "Next": next}
	}
	keep := map[string]any{"grant_id.$": "$.grant_id", "escalator.$": "$.escalator", "start.$": "$.start"}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range keep {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	// lambda invokes a function with a task payload; its answer is not kept.
	lambda := func(function any, action string, extra map[string]any) map[string]any {
		payload := map[string]any{"grant_id.$": "$.grant_id", "action": action}
		for k, v := range extra {
			payload[k] = v
		}
		params := map[string]any{"Payload": payload}
		switch f := function.(type) {
		case string:
			params["FunctionName"] = f
		case jsonPath:
			params["FunctionName.$"] = string(f)
		}
		return map[string]any{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": params, "ResultPath": nil}
	}
	lost := func(stage string) map[string]any {
		return map[string]any{"Type": "Pass", "Parameters": with(map[string]any{"stage": stage, "error.$": "$.error"}),
			"Next": StateSendToDeadLetter}
	}
	recheck := t.seconds(t.DueRecheck)

	// Every task sends its own report to the events queue (TaskHandler's
	// Reports): no state is spent on it. A report that cannot be sent is a
	// ReportError, retried as long as a revoke; an escalate task's is never
	// counted as a failed escalation (the access may be in place: granting
	// again is idempotent and sends the report again), and when it is lost
	// for good the execution ends in the dead-letter queue.
	//
	// The escalate task answers with the Hold that follows it (until the
	// lease end, fixed at approval) at $.Payload.hold, where the Hold reads
	// it.
	escalateTask := func() map[string]any {
		s := lambda(jsonPath("$.escalator"), ActionEscalate, nil)
		s["ResultSelector"] = map[string]any{"hold.$": "$.Payload.hold"}
		s["ResultPath"] = "$.Payload"
		s["Next"] = StateHold
		return s
	}
	reportLost := retry([]string{ErrorReport}, long)

	// The first attempt is its own state, so that what follows it is known:
	// a permanent refusal there granted nothing (EscalationFailed); any
	// other failure leaves the target's state unknown (a timeout may have
	// granted), and stays so whatever later attempts answer, a refusal
	// included: EscalateAgain's every failure goes to CleanUp, which takes
	// back what may be there, and the failure is reported maybe held.
	escalate := escalateTask()
	escalate["Retry"] = []any{reportLost, never("States.ALL")}
	afterFirst := StateCleanUp
	if t.EscalateAttempts > 1 {
		afterFirst = StateEscalateWait
	}
	escalate["Catch"] = []any{catch(StateEscalationFailed, ErrorPermanent), catch(StateEscalateLost, ErrorReport),
		catch(afterFirst, "States.ALL")}

	escalateAgain := escalateTask()
	again := retry([]string{"States.ALL"}, int64(max(t.EscalateAttempts-2, 0)))
	again["IntervalSeconds"] = min(2*initial, most)
	escalateAgain["Retry"] = []any{never(ErrorPermanent), reportLost, again}
	escalateAgain["Catch"] = []any{catch(StateEscalateLost, ErrorReport), catch(StateCleanUp, "States.ALL")}

	cleanUp := lambda(jsonPath("$.escalator"), ActionCleanUp, nil)
	cleanUp["Retry"] = []any{retry([]string{"States.ALL"}, 2)}
	// Best effort: the failure is reported whatever the clean-up does.
	cleanUp["Catch"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.cleanupError", "Next": StateEscalationFailedHeld}}
	cleanUp["Next"] = StateEscalationFailedHeld

	failedReport := func(extra map[string]any) map[string]any {
		extra["error.$"] = "$.error"
		s := lambda(r.GrantTaskFunction, ActionEscalationFailed, extra)
		s["Retry"] = []any{retry([]string{"States.ALL"}, long)}
		s["Catch"] = []any{catch(StateEscalateLost, "States.ALL")}
		s["Next"] = StateDone
		return s
	}
	escalationFailed := failedReport(map[string]any{})
	escalationFailedHeld := failedReport(map[string]any{"maybe_held": true})

	// The Hold waits until the lease end (its timeout), or for the engine's
	// answer, which replaces $.Payload: {"action", "hold"}. A timeout goes
	// to Due, which holds again for at most DueRecheck with Recheck set: the
	// task then reports the due (or holds until the right end).
	hold := map[string]any{
		"Type":     "Task",
		"Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters": map[string]any{
			"FunctionName": r.GrantTaskFunction,
			"Payload": map[string]any{"grant_id.$": "$.grant_id", "action": ActionHold,
				"task_token.$": "$$.Task.Token", "hold.$": "$.Payload.hold"},
		},
		// The timeout is read at a path that holds the same value in the
		// state's input and in its parameters, so it resolves whichever of
		// the two an interpreter reads (Step Functions documents the input;
		// aws-local-stepfunctions reads the parameters).
		"TimeoutSecondsPath": "$.Payload.hold.seconds",
		"ResultPath":         "$.Payload",
		// A timeout is the Hold's purpose, never a failure to retry.
		"Retry": []any{never("States.Timeout"), retry([]string{"States.ALL"}, long)},
		"Catch": []any{
			map[string]any{"ErrorEquals": []string{"States.Timeout"}, "ResultPath": nil, "Next": StateDue},
			catch(StateHoldLost, "States.ALL"),
		},
		"Next": StateAnswer,
	}
	answerIs := func(action string, next string, present ...string) map[string]any {
		rules := []any{map[string]any{"Variable": "$.Payload.action", "StringEquals": action}}
		for _, p := range present {
			rules = append(rules, map[string]any{"Variable": p, "IsPresent": true})
		}
		return map[string]any{"And": rules, "Next": next}
	}

	// A revoke is retried with waits of at most RevokeFastMax for
	// RevokeFastFor, then RetryMax apart (RevokeSlow), until RevokeFor in
	// all; then the failure is reported and the engine revokes again.
	fastMost := min(t.seconds(t.RevokeFastMax), most)
	fastFor := min(t.seconds(t.RevokeFastFor), t.seconds(t.RevokeFor))
	revoke := lambda(jsonPath("$.escalator"), ActionDeescalate, nil)
	revoke["Retry"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "IntervalSeconds": min(initial, fastMost),
		"BackoffRate": 2.0, "MaxDelaySeconds": fastMost, "MaxAttempts": retriesFor(min(initial, fastMost), fastMost, fastFor)}}
	revoke["Catch"] = []any{catch(StateRevokeSlow, "States.ALL")}
	revoke["Next"] = StateDone
	revokeSlow := lambda(jsonPath("$.escalator"), ActionDeescalate, nil)
	revokeSlow["Retry"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "IntervalSeconds": most,
		"BackoffRate": 1.0, "MaxAttempts": max(int64(1), (t.seconds(t.RevokeFor)-fastFor)/most)}}
	revokeSlow["Catch"] = []any{catch(StateDeescalationFailed, "States.ALL")}
	revokeSlow["Next"] = StateDone

	deescalationFailed := lambda(r.GrantTaskFunction, ActionDeescalationFailed, map[string]any{"error.$": "$.error"})
	deescalationFailed["Retry"] = []any{retry([]string{"States.ALL"}, long)}
	deescalationFailed["Catch"] = []any{catch(StateRevokeLost, "States.ALL")}
	deescalationFailed["Next"] = StateRevokeLost

	deadParams := map[string]any{
		"QueueUrl": r.DeadLetterQueueURL,
		"MessageBody": map[string]any{"grant_id.$": "$.grant_id", "execution.$": "$$.Execution.Id",
			"stage.$": "$.stage", "error.$": "$.error"},
	}
	if r.DeadLetterFIFO {
		deadParams["MessageGroupId.$"] = "$.grant_id"
		deadParams["MessageDeduplicationId.$"] = "$$.Execution.Name"
	}

	// A scheduled start only sends the request's start command (the engine
	// judges it): retried as long as a report; a start lost for good fails
	// the execution (alarms), and the expiry sweep sends it all the same.
	sendStart := map[string]any{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
		"Parameters": map[string]any{"FunctionName": r.GrantTaskFunction,
			"Payload": map[string]any{"action": ActionStart, "request_id.$": "$.request_id", "starts_at.$": "$.starts_at"}},
		"ResultPath": nil, "Retry": []any{retry([]string{"States.ALL"}, long)},
		"Catch": []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": nil, "Next": StateFailed}},
		"Next":  StateDone}
	// Regrant tells the target a grant's later end (the escalator function,
	// for strategies whose targets follow it), then holds until the next
	// lease end the task answers with. Its failure never ends the grant's
	// life: after the retries it looks at the grant afresh; the access is
	// in place and is still revoked at its end.
	regrant := lambda(jsonPath("$.escalator"), ActionRegrant, nil)
	regrant["ResultSelector"] = map[string]any{"hold.$": "$.Payload.hold"}
	regrant["ResultPath"] = "$.Payload"
	regrant["Retry"] = []any{never(ErrorPermanent), retry([]string{"States.ALL"}, int64(max(t.EscalateAttempts-1, 1)))}
	regrant["Catch"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.regrantError", "Next": StateFreshHold}}
	regrant["Next"] = StateHold

	states := map[string]any{
		StateStart: map[string]any{"Type": "Choice",
			"Choices": []any{map[string]any{"Variable": "$.start", "StringEquals": StartRevoke, "Next": StateRevoke},
				map[string]any{"Variable": "$.start", "StringEquals": StartSchedule, "Next": StateWaitForStart}},
			"Default": StateEscalate},
		StateEscalate:             escalate,
		StateEscalateWait:         map[string]any{"Type": "Wait", "Seconds": initial, "Next": StateEscalateAgain},
		StateEscalateAgain:        escalateAgain,
		StateCleanUp:              cleanUp,
		StateEscalationFailed:     escalationFailed,
		StateEscalationFailedHeld: escalationFailedHeld,
		StateHold:                 hold,
		StateDue: map[string]any{"Type": "Pass", "Parameters": with(map[string]any{"Payload": map[string]any{
			"hold": map[string]any{"until.$": "$.Payload.hold.until", "seconds": recheck, "recheck": true}}}), "Next": StateHold},
		StateAnswer: map[string]any{"Type": "Choice",
			"Choices": []any{
				answerIs(AnswerDeescalate, StateRevoke),
				answerIs(AnswerHold, StateHold, "$.Payload.hold.seconds"),
				answerIs(AnswerEnd, StateDone),
				answerIs(AnswerRegrant, StateRegrant, "$.Payload.hold.seconds"),
			},
			// An answer this definition does not know: look at the grant afresh.
			"Default": StateFreshHold},
		StateFreshHold: map[string]any{"Type": "Pass", "Parameters": with(map[string]any{"Payload": map[string]any{
			"hold": map[string]any{"until": "", "seconds": recheck, "recheck": true}}}), "Next": StateHold},
		StateRevoke:             revoke,
		StateRegrant:            regrant,
		StateRevokeSlow:         revokeSlow,
		StateDeescalationFailed: deescalationFailed,
		StateEscalateLost:       lost("escalate"),
		StateHoldLost:           lost("hold"),
		StateRevokeLost:         lost("deescalate"),
		StateSendToDeadLetter: map[string]any{
			"Type":       "Task",
			"Resource":   "arn:aws:states:::sqs:sendMessage",
			"Parameters": deadParams,
			"ResultPath": nil,
			"Retry":      []any{retry([]string{"States.ALL"}, long)},
			"Catch":      []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": nil, "Next": StateFailed}},
			"Next":       StateFailed,
		},
		StateWaitForStart: map[string]any{"Type": "Wait", "TimestampPath": "$.starts_at", "Next": StateSendStart},
		StateSendStart:    sendStart,
		StateDone:         map[string]any{"Type": "Succeed"},
		StateFailed: map[string]any{"Type": "Fail", "Error": FailedError,
			"Cause": "The grant's lifecycle failed for good; its dead letter names the grant, the stage and the error."},
	}
	def := map[string]any{
		"Comment": "Latch: one grant's lifecycle (escalate, hold until revoked or due, revoke; each task reports to the events queue itself). " +
			"Generated by github.com/latchhq/latch/pkg/sfngrants.",
		"StartAt": StateStart,
		"States":  states,
	}
	out, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		return "", fmt.Errorf("sfngrants: definition: %w", err)
	}
	return string(out), nil
}

// jsonPath marks a Parameters value taken from the state's data.
type jsonPath string
