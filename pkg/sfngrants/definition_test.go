package sfngrants_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/latchhq/latch/pkg/sfngrants"
)

type asl struct {
	StartAt string                    `json:"StartAt"`
	States  map[string]map[string]any `json:"States"`
}

func parse(t *testing.T, def string) asl {
	t.Helper()
	var a asl
	if err := json.Unmarshal([]byte(def), &a); err != nil {
		t.Fatalf("definition is not JSON: %v", err)
	}
	return a
}

// nexts lists the states s may go to.
func nexts(s map[string]any) []string {
	var out []string
	if n, ok := s["Next"].(string); ok {
		out = append(out, n)
	}
	if n, ok := s["Default"].(string); ok {
		out = append(out, n)
	}
	for _, key := range []string{"Choices", "Catch"} {
		list, _ := s[key].([]any)
		for _, c := range list {
			if n, ok := c.(map[string]any)["Next"].(string); ok {
				out = append(out, n)
			}
		}
	}
	return out
}

func TestDefinitionGraph(t *testing.T) {
	def, err := sfngrants.Definition(sfngrants.Resources{GrantTaskFunction: grantTaskFunction,
		DeadLetterQueueURL: deadLetterURL, DeadLetterFIFO: true})
	if err != nil {
		t.Fatal(err)
	}
	a := parse(t, def)
	if _, ok := a.States[a.StartAt]; !ok {
		t.Fatalf("StartAt %q is not a state", a.StartAt)
	}
	seen := map[string]bool{}
	todo := []string{a.StartAt}
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		s, ok := a.States[name]
		if !ok {
			t.Errorf("a transition goes to %q, which is not a state", name)
			continue
		}
		typ := s["Type"]
		ends := typ == "Succeed" || typ == "Fail"
		if n := nexts(s); len(n) == 0 && !ends {
			t.Errorf("state %s (%s) goes nowhere", name, typ)
		}
		todo = append(todo, nexts(s)...)
	}
	for name := range a.States {
		if !seen[name] {
			t.Errorf("state %s cannot be reached", name)
		}
	}
	// Every path ends: the only loop is through the Hold, which waits.
	for name, s := range a.States {
		if s["Type"] == "Task" {
			if _, ok := s["Retry"]; !ok {
				t.Errorf("task %s is never retried", name)
			}
			if _, ok := s["Catch"]; !ok {
				t.Errorf("task %s catches nothing: its failure would end the execution without a dead letter", name)
			}
		}
	}
}

func TestDefinitionResourcesAndRetries(t *testing.T) {
	// The CDK app passes tokens: they are placed as they are.
	fn, dlq := "${Token[TOKEN.101]}", "${Token[TOKEN.103]}"
	def, err := sfngrants.Definition(sfngrants.Resources{GrantTaskFunction: fn, DeadLetterQueueURL: dlq})
	if err != nil {
		t.Fatal(err)
	}
	a := parse(t, def)
	params := func(state string) map[string]any { return a.States[state]["Parameters"].(map[string]any) }

	for _, s := range []string{sfngrants.StateHold, sfngrants.StateEscalationFailed, sfngrants.StateDeescalationFailed} {
		if params(s)["FunctionName"] != fn {
			t.Errorf("%s invokes %v, want the grant-task function", s, params(s)["FunctionName"])
		}
	}
	for _, s := range []string{sfngrants.StateEscalate, sfngrants.StateRevoke} {
		if params(s)["FunctionName.$"] != "$.escalator" {
			t.Errorf("%s invokes %v, want the input's escalator", s, params(s))
		}
	}
	// The tasks send their reports themselves: the only message the state
	// machine sends is the dead letter.
	for name, s := range a.States {
		if s["Resource"] == "arn:aws:states:::sqs:sendMessage" && name != sfngrants.StateSendToDeadLetter {
			t.Errorf("%s sends to a queue: the tasks report themselves", name)
		}
	}
	dead := params(sfngrants.StateSendToDeadLetter)
	if dead["QueueUrl"] != dlq || dead["MessageGroupId.$"] != nil {
		t.Errorf("dead letter %v (a standard queue takes no group)", dead)
	}

	retry := func(state string, i int) map[string]any {
		return a.States[state]["Retry"].([]any)[i].(map[string]any)
	}
	// The first attempt is not retried in place: a refusal there granted
	// nothing; any other failure goes on to EscalateAgain (after a wait),
	// whose every failure, a refusal included, goes to CleanUp and is
	// reported maybe held.
	catchNext := func(state string, i int) (string, []string) {
		c := a.States[state]["Catch"].([]any)[i].(map[string]any)
		return c["Next"].(string), toStrings(c["ErrorEquals"])
	}
	// A report that cannot be sent is retried as long as a revoke, and is
	// never counted as a failed escalation.
	for _, s := range []string{sfngrants.StateEscalate, sfngrants.StateEscalateAgain} {
		i := 0
		if s == sfngrants.StateEscalateAgain {
			i = 1
		}
		if r := retry(s, i); !slices.Equal(toStrings(r["ErrorEquals"]), []string{sfngrants.ErrorReport}) || r["MaxAttempts"].(float64) < 200 {
			t.Errorf("%s's report retrier %v: a lost report is retried for a day", s, r)
		}
		if next, errs := catchNext(s, len(a.States[s]["Catch"].([]any))-2); next != sfngrants.StateEscalateLost || !slices.Equal(errs, []string{sfngrants.ErrorReport}) {
			t.Errorf("%s: a report lost for good goes to %s on %v, want %s", s, next, errs, sfngrants.StateEscalateLost)
		}
	}
	if r := retry(sfngrants.StateEscalate, 1); !slices.Equal(toStrings(r["ErrorEquals"]), []string{"States.ALL"}) || r["MaxAttempts"] != 0.0 {
		t.Errorf("escalate's retrier %v: the first attempt is not retried in place", r)
	}
	if next, errs := catchNext(sfngrants.StateEscalate, 0); next != sfngrants.StateEscalationFailed || !slices.Equal(errs, []string{sfngrants.ErrorPermanent}) {
		t.Errorf("escalate's first catcher goes to %s on %v; want a refusal reported as such", next, errs)
	}
	if next, _ := catchNext(sfngrants.StateEscalate, 2); next != sfngrants.StateEscalateWait {
		t.Errorf("escalate's other failures go to %s, want %s", next, sfngrants.StateEscalateWait)
	}
	if r := retry(sfngrants.StateEscalateAgain, 0); !slices.Equal(toStrings(r["ErrorEquals"]), []string{sfngrants.ErrorPermanent}) || r["MaxAttempts"] != 0.0 {
		t.Errorf("escalate-again's first retrier %v: a permanent error must not be retried", r)
	}
	if r := retry(sfngrants.StateEscalateAgain, 2); r["MaxAttempts"] != float64(sfngrants.DefaultTiming.EscalateAttempts-2) {
		t.Errorf("escalate-again retrier %v: the attempts left after the first", r)
	}
	if next, errs := catchNext(sfngrants.StateEscalateAgain, 1); next != sfngrants.StateCleanUp || !slices.Equal(errs, []string{"States.ALL"}) {
		t.Errorf("escalate-again's failures go to %s on %v; want every one to CleanUp", next, errs)
	}
	if p := params(sfngrants.StateEscalationFailedHeld)["Payload"].(map[string]any); p["maybe_held"] != true {
		t.Errorf("the report after a clean-up says %v, want maybe_held", p)
	}
	r := retry(sfngrants.StateRevoke, 0)
	if !slices.Equal(toStrings(r["ErrorEquals"]), []string{"States.ALL"}) || r["IntervalSeconds"] != 1.0 || r["MaxDelaySeconds"] != 30.0 ||
		r["BackoffRate"] != 2.0 || a.States[sfngrants.StateRevoke]["Catch"].([]any)[0].(map[string]any)["Next"] != sfngrants.StateRevokeSlow {
		t.Errorf("revoke retrier %v: every error, 1s doubling to 30 seconds, then RevokeSlow", r)
	}
	// The fast waits add up to an hour.
	n := int(r["MaxAttempts"].(float64))
	sum, w := 0, 1
	for range n - 1 {
		sum += w
		w = min(2*w, 30)
	}
	if sum >= 3600 || sum+w < 3600 {
		t.Errorf("revoke retried %d times: waits add up to %ds, not just over an hour", n, sum+w)
	}
	// Then every 5 minutes, for the rest of the day.
	slow := retry(sfngrants.StateRevokeSlow, 0)
	if slow["IntervalSeconds"] != 300.0 || slow["BackoffRate"] != 1.0 || slow["MaxAttempts"] != float64((24*3600-3600)/300) ||
		a.States[sfngrants.StateRevokeSlow]["Catch"].([]any)[0].(map[string]any)["Next"] != sfngrants.StateDeescalationFailed {
		t.Errorf("slow revoke retrier %v: every 5 minutes for 23 hours, then the failure is reported", slow)
	}
	if h := retry(sfngrants.StateHold, 0); !slices.Equal(toStrings(h["ErrorEquals"]), []string{"States.Timeout"}) || h["MaxAttempts"] != 0.0 {
		t.Errorf("the Hold's timeout must never be retried: %v", h)
	}

	// Shorter timing, shorter retries.
	short, _ := sfngrants.DefinitionWith(sfngrants.Resources{GrantTaskFunction: fn, DeadLetterQueueURL: dlq},
		sfngrants.Timing{RevokeFor: time.Minute, EscalateAttempts: 2})
	b := parse(t, short)
	if got := b.States[sfngrants.StateRevoke]["Retry"].([]any)[0].(map[string]any)["MaxAttempts"]; got != 6.0 {
		t.Errorf("revoke for a minute: %v retries, want 6 (1+2+4+8+16+30s)", got)
	}

	if _, err := sfngrants.Definition(sfngrants.Resources{DeadLetterQueueURL: dlq}); err == nil {
		t.Error("Definition without the grant-task function")
	}
}

// TestDefinitionHoldTimeout: the Hold's timeout path resolves to the same
// value in the state's input (what every state entering the Hold builds:
// the escalate tasks' answer, the Hold's own answer, a Pass) and in its
// parameters.
func TestDefinitionHoldTimeout(t *testing.T) {
	def, _ := sfngrants.Definition(sfngrants.Resources{GrantTaskFunction: grantTaskFunction,
		DeadLetterQueueURL: deadLetterURL})
	a := parse(t, def)
	hold := a.States[sfngrants.StateHold]
	if hold["Resource"] != "arn:aws:states:::lambda:invoke.waitForTaskToken" || hold["TimeoutSecondsPath"] != "$.Payload.hold.seconds" {
		t.Fatalf("Hold %v", hold)
	}
	payload := hold["Parameters"].(map[string]any)["Payload"].(map[string]any)
	if payload["hold.$"] != "$.Payload.hold" || payload["task_token.$"] != "$$.Task.Token" {
		t.Errorf("Hold payload %v", payload)
	}
	if hold["ResultPath"] != "$.Payload" {
		t.Errorf("the Hold's answer is kept at %v, want $.Payload (where the next Hold reads its hold)", hold["ResultPath"])
	}
	for name, s := range a.States {
		if s["Next"] != sfngrants.StateHold {
			continue
		}
		switch s["Type"] {
		case "Task":
			if sel, _ := s["ResultSelector"].(map[string]any); s["ResultPath"] != "$.Payload" || sel["hold.$"] != "$.Payload.hold" {
				t.Errorf("%s enters the Hold without its answer's hold at $.Payload.hold: %v", name, s)
			}
		default:
			p, _ := s["Parameters"].(map[string]any)["Payload"].(map[string]any)
			if p == nil || (p["hold"] == nil && p["hold.$"] == nil) {
				t.Errorf("%s enters the Hold without Payload.hold in its output: %v", name, s)
			}
		}
	}
	var toHold bool
	for _, c := range a.States[sfngrants.StateAnswer]["Choices"].([]any) {
		toHold = toHold || c.(map[string]any)["Next"] == sfngrants.StateHold
	}
	if !toHold {
		t.Errorf("an answer with a new hold does not go straight back to the Hold")
	}
	// After a timeout, and after an answer it does not know, the Hold looks
	// again within DueRecheck.
	for _, name := range []string{sfngrants.StateDue, sfngrants.StateFreshHold} {
		h := a.States[name]["Parameters"].(map[string]any)["Payload"].(map[string]any)["hold"].(map[string]any)
		if h["seconds"] != float64(15*60) || h["recheck"] != true {
			t.Errorf("%s holds with %v, want DueRecheck seconds and recheck", name, h)
		}
	}
	if c := a.States[sfngrants.StateHold]["Catch"].([]any)[0].(map[string]any); c["Next"] != sfngrants.StateDue ||
		a.States[sfngrants.StateDue]["Parameters"].(map[string]any)["Payload"].(map[string]any)["hold"].(map[string]any)["until.$"] != "$.Payload.hold.until" {
		t.Errorf("a timed-out Hold goes to %v, want Due, holding for the same end", c["Next"])
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
