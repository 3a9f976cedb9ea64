package main

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp"
)

// newSlackApp builds the Slack app from the environment, or returns nil when
// Slack is not configured (no signing secret and no bot token). Engine and
// Submit are set by the caller once the engine exists.
//
//	SLACK_SIGNING_SECRET  checks every request from Slack over HTTP
//	SLACK_BOT_TOKEN       the bot token (xoxb-…) for the Web API
//	SLACK_APP_TOKEN       an app-level token (xapp-…, connections:write): connect by Socket Mode,
//	                      with no public URL; the signing secret is then optional
//	SLACK_API_URL         the Web API's base (default https://slack.com/api/; GovSlack and tests set another)
//	SLACK_TEAM_IDS        the app's workspaces, comma-separated (default: the bot token's, from auth.test);
//	                      people of any other workspace are Slack Connect users, always guests
//	LATCH_SLACK_CHANNEL   approval channel of flows that name none (default: a DM to each listed approver)
func newSlackApp(getenv func(string) string, store latch.Store, queue latch.Queue, clock latch.Clock, log *slog.Logger) (*slackapp.App, error) {
	secret, token, appToken := getenv("SLACK_SIGNING_SECRET"), getenv("SLACK_BOT_TOKEN"), getenv("SLACK_APP_TOKEN")
	switch {
	case secret == "" && token == "" && appToken == "":
		return nil, nil
	case appToken != "" && !strings.HasPrefix(appToken, "xapp-"):
		return nil, usageError{errors.New("SLACK_APP_TOKEN must be an app-level token (xapp-…; Slack app settings → Basic Information → App-Level Tokens, scope connections:write)")}
	case secret == "" && appToken == "":
		return nil, usageError{errors.New("SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: Latch cannot verify requests from Slack without it (Slack app settings → Basic Information → Signing Secret)")}
	case token == "":
		return nil, usageError{errors.New("SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: Latch cannot post to Slack without it (Slack app settings → OAuth & Permissions → Bot User OAuth Token)")}
	}
	app := slackapp.NewApp(getenv, token)
	app.SigningSecret, app.Store, app.Queue, app.Clock, app.Log = []byte(secret), store, queue, clock, log
	return app, nil
}
