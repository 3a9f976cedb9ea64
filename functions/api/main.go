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
	"github.com/latchhq/latch/pkg/tokens"
)

func main() {
	ctx := context.Background()
	env, parts := boot.StartParts(ctx)
	queue, err := env.Queue()
	boot.Must(env, err)
	eng, err := parts.EdgeEngine()
	boot.Must(env, err)
	toks := &tokens.Service{Store: parts.Store, Clock: latch.SystemClock}
	// Built again when the admin token is rotated.
	live := &boot.Live[http.Handler]{Env: env, Secrets: []string{"LATCH_ADMIN_TOKEN"}, Build: func(ctx context.Context) (http.Handler, error) {
		admin, err := env.Secret(ctx, "LATCH_ADMIN_TOKEN")
		if err != nil {
			return nil, err
		}
		api := &httpapi.Server{Engine: eng, Directory: parts.Directory,
			Tokens: toks, Store: parts.Store, Queue: queue, Submit: queue.PublishCreate,
			Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken(admin), Service: toks}, Log: env.Log,
			RateLimit: httpapi.DefaultRateLimit}
		return api.Handler(), nil
	}}
	_, err = live.Get(ctx)
	boot.Must(env, err)
	lambda.Start(apigw.HandlerWithLog(boot.Serve(live), env.Log))
}
