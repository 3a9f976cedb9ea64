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
	GrantTaskFunction string
	// EventsQueueURL is the FIFO events queue the reports go to.
	EventsQueueURL string
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
	// report before it reports due again.
	DueRecheck time.Duration
}

// DefaultTiming retries as pkg/local.DefaultBackoff does: a grant 6 times
// over about a minute; a revoke with waits of at most 30 seconds for the
// first hour, then five minutes, for a day per execution.
// A Hold looks at its grant at least daily, and every 15 minutes while it
// waits for the engine (a due reported, an escalation not yet recorded).
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
	// execution that only revokes (after the grant's own execution ended).
	Start string `json:"start"`
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
	StateStart                     = "Start"
	StateEscalate                  = "Escalate"
	StateEscalateOutcome           = "EscalateOutcome"
	StateReportEscalated           = "ReportEscalated"
	StateEscalateWait              = "EscalateWait"
	StateEscalateAgain             = "EscalateAgain"
	StateCleanUp                   = "CleanUp"
	StateEscalationFailed          = "EscalationFailed"
	StateEscalationFailedHeld      = "EscalationFailedHeld"
	StateEscalationFailedOutcome   = "EscalationFailedOutcome"
	StateReportEscalationFailed    = "ReportEscalationFailed"
	StateFreshHold                 = "FreshHold"
	StateHold                      = "Hold"
	StateAnswer                    = "Answer"
	StateNextHold                  = "NextHold"
	StateReportDue                 = "ReportDue"
	StateRevoke                    = "Revoke"
	StateRevokeSlow                = "RevokeSlow"
	StateRevokeOutcome             = "RevokeOutcome"
	StateReportDeescalated         = "ReportDeescalated"
	StateDeescalationFailed        = "DeescalationFailed"
	StateDeescalationFailedOutcome = "DeescalationFailedOutcome"
	StateReportDeescalationFailed  = "ReportDeescalationFailed"
	StateEscalateLost              = "EscalateLost"
	StateHoldLost                  = "HoldLost"
	StateRevokeLost                = "RevokeLost"
	StateSendToDeadLetter          = "SendToDeadLetter"
	StateDone                      = "Done"
	StateFailed                    = "Failed"
)

// FailedError is the error a failed execution ends with.
const FailedError = "Latch.GrantLifecycleFailed"

// Definition returns the state machine's Amazon States Language definition
// with DefaultTiming.
func Definition(r Resources) (string, error) { return DefinitionWith(r, Timing{}) }

// DefinitionWith returns the state machine's definition with the given timing.
func DefinitionWith(r Resources, t Timing) (string, error) {
	if r.GrantTaskFunction == "" || r.EventsQueueURL == "" || r.DeadLetterQueueURL == "" {
		return "", errors.New("sfngrants: GrantTaskFunction, EventsQueueURL and DeadLetterQueueURL are required")
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
	// lambda invokes a function with a task payload; its answer is kept at
	// resultPath.out.
	lambda := func(function any, action, resultPath string, extra map[string]any) map[string]any {
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
		return map[string]any{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": params,
			"ResultSelector": map[string]any{"out.$": "$.Payload"}, "ResultPath": resultPath}
	}
	// report sends the report at path to the events queue, retried as long
	// as a revoke; a report that cannot be sent is lost, so lost follows.
	report := func(path, next, lost string) map[string]any {
		return map[string]any{
			"Type":     "Task",
			"Resource": "arn:aws:states:::sqs:sendMessage",
			"Parameters": map[string]any{
				"QueueUrl":                 r.EventsQueueURL,
				"MessageBody.$":            path + ".body",
				"MessageGroupId.$":         "$.grant_id",
				"MessageDeduplicationId.$": path + ".id",
			},
			"ResultPath": nil,
			"Retry":      []any{retry([]string{"States.ALL"}, long)},
			"Catch":      []any{catch(lost, "States.ALL")},
			"Next":       next,
		}
	}
	outcome := func(path, yes, no string) map[string]any {
		return map[string]any{"Type": "Choice",
			"Choices": []any{map[string]any{"Variable": path, "IsPresent": true, "Next": yes}},
			"Default": no}
	}
	lost := func(stage string) map[string]any {
		return map[string]any{"Type": "Pass", "Parameters": with(map[string]any{"stage": stage, "error.$": "$.error"}),
			"Next": StateSendToDeadLetter}
	}
	freshHold := map[string]any{"until": "", "seconds": t.seconds(t.MaxHold), "reported": false}

	// The first attempt is its own state, so that what follows it is known:
	// a permanent refusal there granted nothing (EscalationFailed); any
	// other failure leaves the target's state unknown (a timeout may have
	// granted), and stays so whatever later attempts answer, a refusal
	// included: EscalateAgain's every failure goes to CleanUp, which takes
	// back what may be there, and the failure is reported maybe held.
	escalate := lambda(jsonPath("$.escalator"), ActionEscalate, "$.escalate", nil)
	escalate["Retry"] = []any{never("States.ALL")}
	afterFirst := StateCleanUp
	if t.EscalateAttempts > 1 {
		afterFirst = StateEscalateWait
	}
	escalate["Catch"] = []any{catch(StateEscalationFailed, ErrorPermanent), catch(afterFirst, "States.ALL")}
	escalate["Next"] = StateEscalateOutcome

	escalateAgain := lambda(jsonPath("$.escalator"), ActionEscalate, "$.escalate", nil)
	again := retry([]string{"States.ALL"}, int64(max(t.EscalateAttempts-2, 0)))
	again["IntervalSeconds"] = min(2*initial, most)
	escalateAgain["Retry"] = []any{never(ErrorPermanent), again}
	escalateAgain["Catch"] = []any{catch(StateCleanUp, "States.ALL")}
	escalateAgain["Next"] = StateEscalateOutcome

	cleanUp := lambda(jsonPath("$.escalator"), ActionCleanUp, "$.cleanup", nil)
	cleanUp["Retry"] = []any{retry([]string{"States.ALL"}, 2)}
	// Best effort: the failure is reported whatever the clean-up does.
	cleanUp["Catch"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": "$.cleanupError", "Next": StateEscalationFailedHeld}}
	cleanUp["Next"] = StateEscalationFailedHeld

	failedReport := func(extra map[string]any) map[string]any {
		extra["error.$"] = "$.error"
		s := lambda(r.GrantTaskFunction, ActionEscalationFailed, "$.failed", extra)
		s["Retry"] = []any{retry([]string{"States.ALL"}, long)}
		s["Catch"] = []any{catch(StateEscalateLost, "States.ALL")}
		s["Next"] = StateEscalationFailedOutcome
		return s
	}
	escalationFailed := failedReport(map[string]any{})
	escalationFailedHeld := failedReport(map[string]any{"maybe_held": true})

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
		"ResultPath":         "$.answer",
		// A timeout is the Hold's purpose, never a failure to retry.
		"Retry": []any{never("States.Timeout"), retry([]string{"States.ALL"}, long)},
		"Catch": []any{
			map[string]any{"ErrorEquals": []string{"States.Timeout"}, "ResultPath": nil, "Next": StateFreshHold},
			catch(StateHoldLost, "States.ALL"),
		},
		"Next": StateAnswer,
	}
	answerIs := func(action string, next string, present ...string) map[string]any {
		rules := []any{map[string]any{"Variable": "$.answer.action", "StringEquals": action}}
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
	revoke := lambda(jsonPath("$.escalator"), ActionDeescalate, "$.revoke", nil)
	revoke["Retry"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "IntervalSeconds": min(initial, fastMost),
		"BackoffRate": 2.0, "MaxDelaySeconds": fastMost, "MaxAttempts": retriesFor(min(initial, fastMost), fastMost, fastFor)}}
	revoke["Catch"] = []any{catch(StateRevokeSlow, "States.ALL")}
	revoke["Next"] = StateRevokeOutcome
	revokeSlow := lambda(jsonPath("$.escalator"), ActionDeescalate, "$.revoke", nil)
	revokeSlow["Retry"] = []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "IntervalSeconds": most,
		"BackoffRate": 1.0, "MaxAttempts": max(int64(1), (t.seconds(t.RevokeFor)-fastFor)/most)}}
	revokeSlow["Catch"] = []any{catch(StateDeescalationFailed, "States.ALL")}
	revokeSlow["Next"] = StateRevokeOutcome

	deescalationFailed := lambda(r.GrantTaskFunction, ActionDeescalationFailed, "$.failed", map[string]any{"error.$": "$.error"})
	deescalationFailed["Retry"] = []any{retry([]string{"States.ALL"}, long)}
	deescalationFailed["Catch"] = []any{catch(StateRevokeLost, "States.ALL")}
	deescalationFailed["Next"] = StateDeescalationFailedOutcome

	deadParams := map[string]any{
		"QueueUrl": r.DeadLetterQueueURL,
		"MessageBody": map[string]any{"grant_id.$": "$.grant_id", "execution.$": "$$.Execution.Id",
			"stage.$": "$.stage", "error.$": "$.error"},
	}
	if r.DeadLetterFIFO {
		deadParams["MessageGroupId.$"] = "$.grant_id"
		deadParams["MessageDeduplicationId.$"] = "$$.Execution.Name"
	}

	states := map[string]any{
		StateStart: map[string]any{"Type": "Choice",
			"Choices": []any{map[string]any{"Variable": "$.start", "StringEquals": StartRevoke, "Next": StateRevoke}},
			"Default": StateEscalate},
		StateEscalate:                escalate,
		StateEscalateOutcome:         outcome("$.escalate.out.report", StateReportEscalated, StateFreshHold),
		StateReportEscalated:         report("$.escalate.out.report", StateFreshHold, StateEscalateLost),
		StateEscalateWait:            map[string]any{"Type": "Wait", "Seconds": initial, "Next": StateEscalateAgain},
		StateEscalateAgain:           escalateAgain,
		StateCleanUp:                 cleanUp,
		StateEscalationFailed:        escalationFailed,
		StateEscalationFailedHeld:    escalationFailedHeld,
		StateEscalationFailedOutcome: outcome("$.failed.out.report", StateReportEscalationFailed, StateDone),
		StateReportEscalationFailed:  report("$.failed.out.report", StateDone, StateEscalateLost),
		StateFreshHold:               map[string]any{"Type": "Pass", "Parameters": with(map[string]any{"Payload": map[string]any{"hold": freshHold}}), "Next": StateHold},
		StateHold:                    hold,
		StateAnswer: map[string]any{"Type": "Choice",
			"Choices": []any{
				answerIs(AnswerDeescalate, StateRevoke),
				answerIs(AnswerHold, StateNextHold, "$.answer.hold.seconds"),
				answerIs(AnswerDue, StateReportDue, "$.answer.hold.seconds", "$.answer.report.id"),
				answerIs(AnswerEnd, StateDone),
			},
			// An answer this definition does not know: look at the grant afresh.
			"Default": StateFreshHold},
		StateNextHold:                  map[string]any{"Type": "Pass", "Parameters": with(map[string]any{"Payload": map[string]any{"hold.$": "$.answer.hold"}}), "Next": StateHold},
		StateReportDue:                 report("$.answer.report", StateNextHold, StateHoldLost),
		StateRevoke:                    revoke,
		StateRevokeSlow:                revokeSlow,
		StateRevokeOutcome:             outcome("$.revoke.out.report", StateReportDeescalated, StateDone),
		StateReportDeescalated:         report("$.revoke.out.report", StateDone, StateRevokeLost),
		StateDeescalationFailed:        deescalationFailed,
		StateDeescalationFailedOutcome: outcome("$.failed.out.report", StateReportDeescalationFailed, StateRevokeLost),
		StateReportDeescalationFailed:  report("$.failed.out.report", StateRevokeLost, StateRevokeLost),
		StateEscalateLost:              lost("escalate"),
		StateHoldLost:                  lost("hold"),
		StateRevokeLost:                lost("deescalate"),
		StateSendToDeadLetter: map[string]any{
			"Type":       "Task",
			"Resource":   "arn:aws:states:::sqs:sendMessage",
			"Parameters": deadParams,
			"ResultPath": nil,
			"Retry":      []any{retry([]string{"States.ALL"}, long)},
			"Catch":      []any{map[string]any{"ErrorEquals": []string{"States.ALL"}, "ResultPath": nil, "Next": StateFailed}},
			"Next":       StateFailed,
		},
		StateDone: map[string]any{"Type": "Succeed"},
		StateFailed: map[string]any{"Type": "Fail", "Error": FailedError,
			"Cause": "The grant's lifecycle failed for good; its dead letter names the grant, the stage and the error."},
	}
	def := map[string]any{
		"Comment": "Latch: one grant's lifecycle (escalate, report, hold until revoked or due, revoke, report). " +
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
