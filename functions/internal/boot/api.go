package boot

import (
	"context"
	"net/http"

	"github.com/latchhq/latch/pkg/engine"
)

// API is the API function's handler over eng, made by newServer with the
// admin token and, when the function has the Slack app's secret, the Slack
// app through which a new request may name its person by Slack user id
// (user_id, team_id), resolved with users.info through the current bot
// token (Slack.SlackUserEmail); slack is nil otherwise. It is built again
// when the admin token is rotated. The server itself (package httpapi, and
// the bots' CEL rules of package tokens) is made by the caller, so that
// functions other than api do not link it.
func (p *Parts) API(eng *engine.Engine, newServer func(admin string, slack *Slack) http.Handler) *Live[http.Handler] {
	env := p.Env
	slack := p.Slack(false)
	if slack != nil {
		slack.Engine = eng
	}
	return &Live[http.Handler]{Env: env, Secrets: []string{"LATCH_ADMIN_TOKEN"}, Build: func(ctx context.Context) (http.Handler, error) {
		admin, err := env.Secret(ctx, "LATCH_ADMIN_TOKEN")
		if err != nil {
			return nil, err
		}
		return newServer(admin, slack), nil
	}}
}
