package boot

import (
	"context"
	"net/http"

	"github.com/latchhq/latch/pkg/engine"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/tokens"
)

// API is the API function's handler over eng: commands go to queue and new
// requests to submit. It is built again when the admin token is rotated.
// When the function has the Slack app's secret, a new request may name its
// person by Slack user id (user_id, team_id), resolved with users.info
// through the current bot token (Slack.SlackUserEmail).
func (p *Parts) API(eng *engine.Engine, queue latch.Queue, submit func(context.Context, engine.CreateInput) error) *Live[http.Handler] {
	env := p.Env
	toks := &tokens.Service{Store: p.Store, Clock: latch.SystemClock}
	var slackUsers httpapi.SlackUsers
	if slack := p.Slack(false); slack != nil {
		slack.Engine = eng
		slackUsers = slack
	}
	return &Live[http.Handler]{Env: env, Secrets: []string{"LATCH_ADMIN_TOKEN"}, Build: func(ctx context.Context) (http.Handler, error) {
		admin, err := env.Secret(ctx, "LATCH_ADMIN_TOKEN")
		if err != nil {
			return nil, err
		}
		api := &httpapi.Server{Engine: eng, Directory: p.Directory,
			Tokens: toks, Store: p.Store, Queue: queue, Submit: submit,
			Auth: &httpapi.Tokens{Bootstrap: httpapi.NewStaticToken(admin), Service: toks}, Log: env.Log,
			RateLimit: httpapi.DefaultRateLimit, SlackUsers: slackUsers}
		return api.Handler(), nil
	}}
}
