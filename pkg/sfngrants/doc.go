// Package sfngrants runs grant lifecycles on AWS Step Functions: one Standard
// execution per grant, named by the grant id, in place of pkg/local's
// goroutines and timers. It holds the state machine's definition
// (Definition), the handler of its Lambda tasks (TaskHandler), and the
// latch.GrantRunner the engine drives it with (Runner).
//
// # The state machine
//
//	Start ─► Escalate ─► Hold ◄─────────────────────────────┐
//	   │        │ (fails) ─► EscalateWait ─► EscalateAgain ─► Hold (retried; PermanentError not)
//	   │        │                 every failure ─► CleanUp ─► EscalationFailedHeld ─► Done
//	   │        └─refused─► EscalationFailed ─► Done       │
//	   │                     Hold times out ─► Due ─► Hold ─┤
//	   │                     Answer: hold ─► Hold ──────────┘
//	   │                             end ──► Done
//	   │                             regrant ─► Regrant ─► Hold (the end moved later)
//	   ├─(start: revoke)──── deescalate ─► Revoke ─► Done
//	   └─(start: schedule)── WaitForStart ─► SendStart ─► Done   (a scheduled request's start; see StartSchedule)
//	Revoke (every error retried, ≤ 30 s apart, for an hour) ─► Done
//	   └─► RevokeSlow (every 5 minutes, to RevokeFor: a day) ─► Done
//	         └─► DeescalationFailed ─► RevokeLost ─► SendToDeadLetter ─► Failed
//
// The normal path — escalate, hold until the end, revoke — enters eight
// states: Start, Escalate, Hold, Due, Hold, Answer, Revoke, Done (Step
// Functions bills each; TestNormalPath asserts the path).
//
// A revoke is never given up: on deescalation_failed the engine keeps the
// grant deescalating and asks for the revoke again, which starts a
// revoke-only execution (see below). An escalation of which any attempt
// failed otherwise than by a refusal reports that the access may be held
// (after CleanUp's best effort), even when a later attempt was refused; the
// engine then revokes the grant the same way. Only a refusal of the first
// attempt reports nothing held.
//
// Escalate and Revoke invoke the escalator function of the grant's strategy
// (named in the execution's Input); Hold, EscalationFailed and
// DeescalationFailed invoke the grant-task function. Both run TaskHandler.
// Each task sends its own report (TaskHandler.Reports) — events v1
// messages, written and validated by events.Marshal — to the FIFO events
// queue, with the grant id as message group and the message id as
// deduplication id; their ids are those pkg/local uses
// (escalated/<grant>/v<version>, due/<grant>/<unix nanos of the lease end>,
// ...), so a repeat is a duplicate. A task whose report cannot be sent fails
// with a ReportError and is retried for RevokeFor (the escalate states never
// count it as a failed escalation: granting again is idempotent); then the
// execution sends a DeadLetter (grant, execution, stage, error) to the
// dead-letter queue and fails, which raises the alarms. So does a Hold that
// fails for RevokeFor.
//
// # Hold: waiting without Wait
//
// Hold is a callback task (lambda:invoke.waitForTaskToken) whose timeout is
// the time left until the grant's next lease end (TimeoutSecondsPath; at
// most MaxHold). The escalate task answers with the first Hold: until the
// lease end, which is fixed when the grant is approved, so the Hold need
// not wait for the engine to record the escalation. The Hold's Lambda task
// records its task token and the end it waits until (Tokens.PutHoldToken),
// then reads the grant, and answers its own token at once when the grant
// asks for something else (DecideHold): revoke when it is deescalating;
// hold until another end when its next lease end moved. Otherwise it
// returns and the task waits: for its timeout, or for the engine. A timeout
// goes to Due, a Hold of at most DueRecheck marked Recheck, whose task
// reports the due (or, before the end, holds until it) and waits for the
// engine. The engine reaches a waiting Hold through the Runner, after it
// has committed the grant: Deescalate reads the token and answers
// {"action":"deescalate"}; Wake answers {"action":"hold", "hold":{...}} with
// the new end — unless the Hold waits until that end already (the usual
// wake-up after the escalation is recorded), which costs nothing.
//
// When a grant's end moves later (an extension, a second lease),
// Regrant answers the Hold with {"action":"regrant", "hold":{...}}: the
// Regrant task sends the grant to its target again with the new end when
// the target follows ends (latch.EndFollower: webhook, aws_lambda), then
// the execution holds until the next lease end. The engine's Wake of the
// same change finds the token answered (ErrTokenGone) and leaves it: the
// Hold after Regrant waits until the new end. When no Hold can be answered
// (the execution is between Holds, the token is stale), Regrant fails and
// its effect stays in the outbox, tried again (the reconciler dispatches
// pending effects) once the next Hold has recorded its token: the target
// is told at least once, and a repeat is idempotent. A failed Regrant task
// never ends the grant: after its retries the execution looks at the grant
// afresh (FreshHold), and the access is still revoked at its end.
//
// # Why no revoke is lost and no grant follows its revoke
//
// Each side writes, then reads what the other writes: the engine commits the
// grant, then reads the token; the Hold writes its token, then reads the
// grant. Both are strongly consistent (on DynamoDB: writes, and reads with
// ConsistentRead). So for any revoke (or new end) and any Hold, either
// the engine's read of the token comes after the Hold's write — the engine
// finds this Hold's token and answers it — or the Hold's read of the grant
// comes after the engine's commit — the Hold sees the revoke and answers
// itself. A token the engine finds stale (its Hold was answered or timed
// out) belongs to a Hold that has ended; the next Hold of the execution
// reads the grant after recording its token, so it sees the commit. An
// answer that arrives at a token already answered is refused by Step
// Functions (ErrTokenGone) and is harmless: the state is read again by the
// next Hold. Between two Holds the execution is only in Pass and Choice
// states, which never grant. Wake leaves a Hold whose recorded end is the
// new end (still to come): that Hold either waits for that end, or it read
// the grant before the commit and answered itself (the next Hold reads the
// grant again).
//
// Escalate runs once, before the first Hold, and the execution never goes
// back to it; a grant whose revoke has begun never becomes active again
// (the domain queues new leases for a new grant). So within an execution no
// grant can follow its revoke. Across executions: a second execution for
// the same grant (StartRevoke) is started only when the grant's own
// execution will never revoke — its revoke failed for good (it records
// RevokeOver in place of a token before it reports the failure, so an
// admin's retry, which follows the report, finds it), or it is no longer
// running (failed, timed out, aborted; or succeeded while the grant is
// still deescalating, which means its deescalated report was lost). Its name
// carries the grant's version, so a repeated Deescalate starts it once; when
// that one has ended too, another is started, named with the hour, so a
// lost report is sent again at most hourly. Escalate does the same for a
// grant still escalating whose execution has ended; when the execution
// waits in a Hold, Escalate (the reconciler asks for it when a grant has
// been escalating for long) has the Hold look again, and a Recheck Hold that
// finds its grant escalating DueRecheck after its last change sends the
// escalated report again: a report dead-lettered by the approvals function
// is not the end of the grant. The
// revoke task acts only on a grant that is deescalating, and the next grant
// for the same access starts only once this one has ended or failed, so two
// revokes of one grant never race a new grant.
//
// # Limits
//
// A Standard execution lives at most a year. A grant held open longer
// without an end (no scheduled deescalation) times out with its execution;
// a revoke then starts a revoke-only execution, but nothing reports a due
// for it (a grant with an end beyond a year would miss it: the reconciler
// must catch such grants). Redriving a failed execution by hand resumes it
// beside any revoke-only execution; retry through Latch instead.
//
// The argument assumes a Hold's token write is not overtaken by an older
// one. A Hold invocation that outlived its Hold (it timed out with its write
// still in flight) could land its write after the next Hold's; so each
// token is written with the time its task started, and a write older than
// the stored token is dropped (Tokens.PutHoldToken; on DynamoDB a
// conditional put). Lambda instances' clocks agree to well under the time
// between two Holds.
package sfngrants
