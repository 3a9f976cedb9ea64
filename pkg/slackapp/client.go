package slackapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/latchhq/latch/pkg/outbound"
)

// DefaultAPIURL is the Slack Web API's base. GovSlack and tests set another
// (SLACK_API_URL).
const DefaultAPIURL = "https://slack.com/api/"

// Client calls the Slack Web API with a bot token, through slack-go's
// client (slack.OptionAPIURL points it at BaseURL). Its methods are the
// calls Latch makes, with Slack's errors as *APIError.
type Client struct {
	// BaseURL is the Web API's base, ending in "/"; empty is DefaultAPIURL.
	BaseURL string
	Token   string
	HTTP    *http.Client // nil: one shared client with a 10-second timeout that reuses connections

	once sync.Once
	api  *slack.Client
}

// APIError is Slack's {"ok":false,"error":...} answer to a call.
type APIError struct {
	Method string
	Code   string        // e.g. "channel_not_found", "expired_trigger_id", "ratelimited"
	Retry  time.Duration // from Retry-After, when Slack rate-limited the call
}

func (e *APIError) Error() string { return "slack " + e.Method + ": " + e.Code }

// ErrorCode returns the Slack error code of err ("" when err is not an
// APIError).
func ErrorCode(err error) string {
	if e, ok := errors.AsType[*APIError](err); ok {
		return e.Code
	}
	return ""
}

// defaultHTTP is shared by every Client given none: its connections to
// Slack are kept alive and reused (outbound.NewClient), not opened per call.
var defaultHTTP = outbound.NewClient(10 * time.Second)

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *Client) baseURL() string {
	base := c.BaseURL
	if base == "" {
		base = DefaultAPIURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base
}

// web is the slack-go client, made on first use.
func (c *Client) web() *slack.Client {
	c.once.Do(func() {
		c.api = slack.New(c.Token, slack.OptionAPIURL(c.baseURL()), slack.OptionHTTPClient(c.httpClient()))
	})
	return c.api
}

// apiError turns slack-go's errors into *APIError: Slack's error code, or
// ratelimited with the wait Slack asked for. Other errors (the network, a
// timeout, an HTTP 5xx) are wrapped as they are.
func apiError(method string, err error) error {
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return &APIError{Method: method, Code: se.Err}
	}
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return &APIError{Method: method, Code: "ratelimited", Retry: rl.RetryAfter}
	}
	if errors.Is(err, slack.ErrBlockIDNotUnique) {
		return &APIError{Method: method, Code: "invalid_arguments"}
	}
	return fmt.Errorf("slack %s: %w", method, err)
}

// Respond posts text, shown only to the person who acted, to a
// response_url Slack gave with a command or a click. Only Slack's hooks
// hosts, and the host of BaseURL (GovSlack, tests), are posted to.
func (c *Client) Respond(ctx context.Context, responseURL, text string) error {
	u, err := url.Parse(responseURL)
	if err != nil || u.Scheme == "" || !c.respondable(u) {
		return fmt.Errorf("slack response_url %q is not Slack's", responseURL)
	}
	msg := &slack.WebhookMessage{Text: text, ResponseType: slack.ResponseTypeEphemeral}
	if err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, c.httpClient(), msg); err != nil {
		return fmt.Errorf("slack response_url: %w", err)
	}
	return nil
}

// respondable reports whether u is a response_url Latch posts to.
func (c *Client) respondable(u *url.URL) bool {
	if u.Scheme == "https" && (u.Host == "hooks.slack.com" || u.Host == "hooks.slack-gov.com") {
		return true
	}
	base, err := url.Parse(c.baseURL())
	return err == nil && base.Host == u.Host && base.Scheme == u.Scheme
}

// OpenView opens a modal (views.open); triggerID is valid for 3 seconds.
// It returns the view's id and hash, for views.update.
func (c *Client) OpenView(ctx context.Context, triggerID string, v slack.ModalViewRequest) (id, hash string, err error) {
	resp, err := c.web().OpenViewContext(ctx, triggerID, v)
	if err != nil {
		return "", "", apiError("views.open", err)
	}
	return resp.ID, resp.Hash, nil
}

// UpdateView replaces an open modal (views.update). A non-empty hash makes
// the update fail with hash_conflict if the view changed meanwhile.
func (c *Client) UpdateView(ctx context.Context, viewID, hash string, v slack.ModalViewRequest) error {
	_, err := c.web().UpdateViewContext(ctx, v, "", hash, viewID)
	return apiError("views.update", err)
}

// PublishHome sets user's App Home tab (views.publish).
func (c *Client) PublishHome(ctx context.Context, user string, v slack.HomeTabViewRequest) error {
	_, err := c.web().PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: v})
	return apiError("views.publish", err)
}

// MessageTS is a posted message: the channel's id and the message's ts.
type MessageTS struct {
	Channel string
	TS      string
}

// messageOptions are a message's text (mrkdwn, already escaped: slack-go
// is told not to escape it again) and blocks.
func messageOptions(text string, blocks []slack.Block) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
	if len(blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(blocks...))
	}
	return opts
}

// PostMessage posts text (the notification fallback) and blocks to channel,
// an id or a #name, and returns where it landed.
func (c *Client) PostMessage(ctx context.Context, channel, text string, blocks []slack.Block) (MessageTS, error) {
	ch, ts, err := c.web().PostMessageContext(ctx, channel, messageOptions(text, blocks)...)
	return MessageTS{Channel: ch, TS: ts}, apiError("chat.postMessage", err)
}

// UpdateMessage replaces a posted message's text and blocks (chat.update).
func (c *Client) UpdateMessage(ctx context.Context, channel, ts, text string, blocks []slack.Block) error {
	opts := messageOptions(text, blocks)
	if len(blocks) == 0 {
		opts = append(opts, slack.MsgOptionBlocks()) // no blocks: the old ones go
	}
	_, _, _, err := c.web().UpdateMessageContext(ctx, channel, ts, opts...)
	return apiError("chat.update", err)
}

// PostReply posts text in the thread of the message at threadTS in
// channel.
func (c *Client) PostReply(ctx context.Context, channel, threadTS, text string) error {
	_, _, err := c.web().PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionTS(threadTS))
	return apiError("chat.postMessage", err)
}

// Permalink returns a link to the message at ts in channel
// (chat.getPermalink).
func (c *Client) Permalink(ctx context.Context, channel, ts string) (string, error) {
	link, err := c.web().GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: channel, Ts: ts})
	return link, apiError("chat.getPermalink", err)
}

// PostEphemeral shows text to user only, in channel.
func (c *Client) PostEphemeral(ctx context.Context, channel, user, text string) error {
	_, err := c.web().PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(text, false))
	return apiError("chat.postEphemeral", err)
}

// OpenIM returns the id of the direct message channel with user.
func (c *Client) OpenIM(ctx context.Context, user string) (string, error) {
	ch, _, _, err := c.web().OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{user}})
	if err != nil {
		return "", apiError("conversations.open", err)
	}
	return ch.ID, nil
}

// OpenSocket asks for a Socket Mode connection with the app-level token
// (apps.connections.open) and returns its WebSocket URL.
func (c *Client) OpenSocket(ctx context.Context, appToken string) (string, error) {
	api := slack.New(c.Token, slack.OptionAPIURL(c.baseURL()), slack.OptionHTTPClient(c.httpClient()), slack.OptionAppLevelToken(appToken))
	_, u, err := api.StartSocketModeContext(ctx)
	return u, apiError("apps.connections.open", err)
}

// SlackUser is what users.info and users.lookupByEmail tell of a person.
type SlackUser struct {
	ID                string `json:"id"`
	TeamID            string `json:"team_id"`
	Name              string `json:"name"`
	RealName          string `json:"real_name"`
	Deleted           bool   `json:"deleted"`
	IsBot             bool   `json:"is_bot"`
	IsRestricted      bool   `json:"is_restricted"`       // a multi-channel guest
	IsUltraRestricted bool   `json:"is_ultra_restricted"` // a single-channel guest
	IsStranger        bool   `json:"is_stranger"`         // from another organisation, over Slack Connect
	Profile           struct {
		Email    string `json:"email"`
		RealName string `json:"real_name"`
		Team     string `json:"team"`
	} `json:"profile"`
	EnterpriseUser *struct {
		ID           string `json:"id"`
		EnterpriseID string `json:"enterprise_id"`
	} `json:"enterprise_user"`
}

// slackUser is what Latch reads of slack-go's user.
func slackUser(u *slack.User) SlackUser {
	out := SlackUser{ID: u.ID, TeamID: u.TeamID, Name: u.Name, RealName: u.RealName, Deleted: u.Deleted, IsBot: u.IsBot,
		IsRestricted: u.IsRestricted, IsUltraRestricted: u.IsUltraRestricted, IsStranger: u.IsStranger}
	out.Profile.Email, out.Profile.RealName, out.Profile.Team = u.Profile.Email, u.Profile.RealName, u.Profile.Team
	if u.Enterprise.EnterpriseID != "" {
		out.EnterpriseUser = &struct {
			ID           string `json:"id"`
			EnterpriseID string `json:"enterprise_id"`
		}{ID: u.Enterprise.ID, EnterpriseID: u.Enterprise.EnterpriseID}
	}
	return out
}

// UserInfo returns a person's profile (users.info; users:read and
// users:read.email scopes).
func (c *Client) UserInfo(ctx context.Context, user string) (SlackUser, error) {
	u, err := c.web().GetUserInfoContext(ctx, user)
	if err != nil {
		return SlackUser{}, apiError("users.info", err)
	}
	return slackUser(u), nil
}

// LookupByEmail finds a workspace member by email (users.lookupByEmail).
func (c *Client) LookupByEmail(ctx context.Context, email string) (SlackUser, error) {
	u, err := c.web().GetUserByEmailContext(ctx, email)
	if err != nil {
		return SlackUser{}, apiError("users.lookupByEmail", err)
	}
	return slackUser(u), nil
}

// AuthInfo is what auth.test says of the bot token: the workspace (and
// Enterprise Grid org) it was installed in.
type AuthInfo struct {
	TeamID       string
	Team         string
	UserID       string
	BotID        string
	EnterpriseID string
}

// AuthTest checks the token and names its workspace (auth.test).
func (c *Client) AuthTest(ctx context.Context) (AuthInfo, error) {
	r, err := c.web().AuthTestContext(ctx)
	if err != nil {
		return AuthInfo{}, apiError("auth.test", err)
	}
	return AuthInfo{TeamID: r.TeamID, Team: r.Team, UserID: r.UserID, BotID: r.BotID, EnterpriseID: r.EnterpriseID}, nil
}
