// Command slack is the Slack ingress function: Slack's commands,
// interactions, options and events through API Gateway, served by the same
// handler as latch server's /slack routes. New requests and people's
// decisions go to the events queue. It answers Slack at once and does the
// work that follows the answer in an asynchronous invocation of itself
// (boot.Slack.LambdaHandler).
package main

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/functions/internal/lambdainvoke"
	"github.com/latchhq/latch/pkg/apigw"
	"github.com/latchhq/latch/pkg/policy"
)

func main() {
	ctx := context.Background()
	env, parts := boot.StartParts(ctx, policy.Lazy{}) // it evaluates visible_to, approval and auto_approve rules
	slack := parts.Slack(true)
	if slack == nil {
		boot.Must(env, errors.New("SLACK_BOT_TOKEN (or LATCH_APP_SECRETS_ARN, or SLACK_BOT_TOKEN_ARN) is not set"))
	}
	slack.Invoker = lambdainvoke.Async(env.AWS) // LATCH_SLACK_DEFER=invoke: the work after an answer
	var err error
	slack.Engine, err = parts.EdgeEngine()
	boot.Must(env, err)
	lambda.Start(slack.LambdaHandler(apigw.HandlerWithLog(slack.Handler(), env.Log)))
}
