// Command api is the API ingress function: Latch's /v1 API through API
// Gateway, served by the same handler as latch server. Reads come straight
// from DynamoDB; new requests and commands go to the events queue.
package main

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchhq/latch/functions/internal/boot"
	"github.com/latchhq/latch/pkg/apigw"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/policy"
	"github.com/latchhq/latch/pkg/tokens"
)

func main() {
	ctx := context.Background()
	env, parts := boot.StartParts(ctx, policy.Lazy{}) // it evaluates visible_to and approval rules, and bots' rules (tokens)
	queue, err := env.Queue()
	boot.Must(env, err)
	eng, err := parts.EdgeEngine()
	boot.Must(env, err)
	// Built again when the admin token (or the Slack bot token, for
	// user_id) is rotated.
	toks := &tokens.Service{Store: parts.Store, Clock: latch.SystemClock}
	live := parts.API(eng, func(admin string, slack *boot.Slack) http.Handler {
		api := &httpapi.Server{Engine: eng, Directory: parts.Directory,
			Tokens: toks, Store: parts.Store, Queue: queue, Submit: queue.PublishCreate,
			Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken(admin), Service: toks}, Log: env.Log,
			RateLimit: httpapi.DefaultRateLimit}
		if slack != nil {
			api.SlackUsers = slack
		}
		return api.Handler()
	})
	_, err = live.Get(ctx)
	boot.Must(env, err)
	lambda.Start(apigw.HandlerWithLog(boot.Serve(live), env.Log))
}
