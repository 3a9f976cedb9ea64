package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchhq/latch/pkg/apigw"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp"
)

// The Slack function's work after an answer. A Lambda freezes once it has
// answered, so the work that follows an answer to Slack (the request form
// replacing the loading modal, a click's decision, whoami, the Home tab)
// cannot run after the answer in the same invocation. With
// LATCH_SLACK_DEFER=invoke (the stack sets it) the function answers at once
// and hands the work to itself: an asynchronous invocation (Lambda's own
// queue) whose payload is the job (slackapp.EncodeJob: the verified body,
// its kind, authenticated with the signing secret). Lambda retries a failed
// one as the stack configures, then sends it to its on-failure destination
// (SlackWorkDLQ); every failure counts in the function's Errors, which the
// SlackErrors alarm watches. Without it (the emulator, a test) the work
// runs before the answer (slackapp.RunNow), as it did before.

// slackDeferVar turns the self-invocation on: "invoke".
const slackDeferVar = "LATCH_SLACK_DEFER"

// Invoker invokes a Lambda function asynchronously with payload: the
// Slack function's hand-off to itself. Only the Slack function sets one
// (Slack.Invoker, lambdainvoke.Async), so that only it links Lambda's
// client.
type Invoker func(ctx context.Context, function string, payload []byte) error

// deferToSelf returns app's Defer that invokes this function
// (AWS_LAMBDA_FUNCTION_NAME, which Lambda sets) asynchronously with the
// job, or nil when LATCH_SLACK_DEFER is not "invoke".
func (s *Slack) deferToSelf(app *slackapp.App) (func(context.Context, slackapp.Job) error, error) {
	env := s.p.Env
	switch v := env.Get(slackDeferVar); v {
	case "":
		return nil, nil
	case "invoke":
	default:
		return nil, fmt.Errorf("%s %q: the only value is \"invoke\"", slackDeferVar, v)
	}
	name, err := env.Need("AWS_LAMBDA_FUNCTION_NAME")
	if err != nil {
		return nil, fmt.Errorf("%s=invoke: %w", slackDeferVar, err)
	}
	invoke := s.Invoker
	if invoke == nil {
		return nil, fmt.Errorf("%s=invoke, but this function cannot invoke itself (Slack.Invoker is not set)", slackDeferVar)
	}
	return func(ctx context.Context, job slackapp.Job) error {
		b, err := app.EncodeJob(job)
		if err != nil {
			return err
		}
		if err := invoke(ctx, name, b); err != nil {
			return fmt.Errorf("hand the slack %s job to %s: %w", job.Kind, name, err)
		}
		return nil
	}, nil
}

// LambdaHandler is the Slack function's handler: an API Gateway event (a
// request from Slack) is served by ingress; a job the function handed to
// itself (slackapp.IsJob) is run with RunJob.
func (s *Slack) LambdaHandler(ingress apigw.LambdaHandler) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		if slackapp.IsJob(raw) {
			return nil, s.RunJob(ctx, raw)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("the event is neither an API Gateway request nor a slack job: %w", err)
		}
		return ingress(ctx, ev)
	}
}

// RunJob runs an encoded job with the current app. It returns an error
// (Lambda retries the invocation) only when the app cannot be had now: a
// secret cannot be read, or Slack is not configured yet. A job that is not
// this app's, too old, or unreadable is logged as an error and dropped: a
// retry would not change it.
func (s *Slack) RunJob(ctx context.Context, raw []byte) error {
	log := s.p.Env.Log
	app, err := s.App(ctx)
	if err != nil {
		return err
	}
	if app == nil {
		log.WarnContext(ctx, "a slack job is dropped: Slack is off")
		return nil
	}
	job, err := app.DecodeJob(raw)
	if err != nil {
		log.ErrorContext(ctx, "a slack job is refused", "err", err)
		return nil
	}
	if err := app.RunJob(ctx, job); err != nil {
		log.ErrorContext(ctx, "a slack job cannot be run", "kind", job.Kind, "err", err)
	}
	return nil
}

// SlackUserEmail returns the email of the Latch user behind a Slack user
// id, for the API's user_id (httpapi.SlackUsers), with the current app:
// the bot token is read through the secrets' cache, so a rotation is seen.
// While Slack is off or not configured yet it returns a *latch.Error of
// kind invalid (slack_not_configured), as an API without Slack does.
func (s *Slack) SlackUserEmail(ctx context.Context, team, userID string) (string, error) {
	app, err := s.App(ctx)
	if errors.Is(err, ErrNotConfigured) || err == nil && app == nil {
		return "", latch.Errorf(latch.KindInvalid, "slack_not_configured",
			"user_id names a Slack user, but Latch's Slack app is not configured (SLACK_BOT_TOKEN); give user_email.")
	}
	if err != nil {
		return "", err
	}
	return app.SlackUserEmail(ctx, team, userID)
}
