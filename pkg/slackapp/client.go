package slackapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultAPIURL is the Slack Web API's base. GovSlack and tests set another
// (SLACK_API_URL).
const DefaultAPIURL = "https://slack.com/api/"

// Client calls the Slack Web API with a bot token. Every call is a form POST
// with the token as a bearer header, as Slack accepts for every method;
// structured arguments (blocks, views) are sent as JSON text.
type Client struct {
	// BaseURL is the Web API's base, ending in "/"; empty is DefaultAPIURL.
	BaseURL string
	Token   string
	HTTP    *http.Client // nil: a client with a 10-second timeout
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

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// Call invokes method with params and decodes the answer into out (which
// may be nil). A value in params that is not a string is sent as its JSON.
func (c *Client) Call(ctx context.Context, method string, params map[string]any, out any) error {
	form := url.Values{}
	for k, v := range params {
		switch x := v.(type) {
		case nil:
		case string:
			if x != "" {
				form.Set(k, x)
			}
		case bool:
			form.Set(k, strconv.FormatBool(x))
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return fmt.Errorf("slack %s: encode %s: %w", method, k, err)
			}
			form.Set(k, string(b))
		}
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultAPIURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+method, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("slack %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("slack %s: %w", method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("slack %s: read answer: %w", method, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &APIError{Method: method, Code: "ratelimited", Retry: time.Duration(secs) * time.Second}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("slack %s: HTTP %d", method, resp.StatusCode)
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &status); err != nil {
		return fmt.Errorf("slack %s: answer is not JSON: %w", method, err)
	}
	if !status.OK {
		return &APIError{Method: method, Code: status.Error}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("slack %s: decode answer: %w", method, err)
		}
	}
	return nil
}

// Respond posts msg to a response_url Slack gave with a command or a click
// (a JSON message: text, blocks, response_type, replace_original). Only
// Slack's hooks hosts, and the host of BaseURL (GovSlack, tests), are
// posted to.
func (c *Client) Respond(ctx context.Context, responseURL string, msg map[string]any) error {
	u, err := url.Parse(responseURL)
	if err != nil || u.Scheme == "" || !c.respondable(u) {
		return fmt.Errorf("slack response_url %q is not Slack's", responseURL)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("slack response_url: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("slack response_url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("slack response_url: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("slack response_url: HTTP %d", resp.StatusCode)
	}
	return nil
}

// respondable reports whether u is a response_url Latch posts to.
func (c *Client) respondable(u *url.URL) bool {
	if u.Scheme == "https" && (u.Host == "hooks.slack.com" || u.Host == "hooks.slack-gov.com") {
		return true
	}
	base, err := url.Parse(c.BaseURL)
	return err == nil && c.BaseURL != "" && base.Host == u.Host && base.Scheme == u.Scheme
}

// OpenView opens a modal (views.open); triggerID is valid for 3 seconds.
// It returns the view's id and hash, for views.update.
func (c *Client) OpenView(ctx context.Context, triggerID string, view any) (id, hash string, err error) {
	var out struct {
		View struct {
			ID   string `json:"id"`
			Hash string `json:"hash"`
		} `json:"view"`
	}
	err = c.Call(ctx, "views.open", map[string]any{"trigger_id": triggerID, "view": view}, &out)
	return out.View.ID, out.View.Hash, err
}

// UpdateView replaces an open modal (views.update). A non-empty hash makes
// the update fail with hash_conflict if the view changed meanwhile.
func (c *Client) UpdateView(ctx context.Context, viewID, hash string, view any) error {
	return c.Call(ctx, "views.update", map[string]any{"view_id": viewID, "hash": hash, "view": view}, nil)
}

// MessageTS is a posted message: the channel's id and the message's ts.
type MessageTS struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// PostMessage posts text (the notification fallback) and blocks to channel,
// an id or a #name, and returns where it landed.
func (c *Client) PostMessage(ctx context.Context, channel, text string, blocks any) (MessageTS, error) {
	var out MessageTS
	err := c.Call(ctx, "chat.postMessage", map[string]any{"channel": channel, "text": text, "blocks": blocks}, &out)
	return out, err
}

// UpdateMessage replaces a posted message's text and blocks (chat.update).
func (c *Client) UpdateMessage(ctx context.Context, channel, ts, text string, blocks any) error {
	return c.Call(ctx, "chat.update", map[string]any{"channel": channel, "ts": ts, "text": text, "blocks": blocks}, nil)
}

// PostEphemeral shows text to user only, in channel.
func (c *Client) PostEphemeral(ctx context.Context, channel, user, text string) error {
	return c.Call(ctx, "chat.postEphemeral", map[string]any{"channel": channel, "user": user, "text": text}, nil)
}

// OpenIM returns the id of the direct message channel with user.
func (c *Client) OpenIM(ctx context.Context, user string) (string, error) {
	var out struct {
		Channel struct {
			ID string `json:"id"`
		} `json:"channel"`
	}
	err := c.Call(ctx, "conversations.open", map[string]any{"users": user}, &out)
	return out.Channel.ID, err
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

// UserInfo returns a person's profile (users.info; users:read and
// users:read.email scopes).
func (c *Client) UserInfo(ctx context.Context, user string) (SlackUser, error) {
	var out struct {
		User SlackUser `json:"user"`
	}
	err := c.Call(ctx, "users.info", map[string]any{"user": user}, &out)
	return out.User, err
}

// LookupByEmail finds a workspace member by email (users.lookupByEmail).
func (c *Client) LookupByEmail(ctx context.Context, email string) (SlackUser, error) {
	var out struct {
		User SlackUser `json:"user"`
	}
	err := c.Call(ctx, "users.lookupByEmail", map[string]any{"email": email}, &out)
	return out.User, err
}

// AuthInfo is what auth.test says of the bot token: the workspace (and
// Enterprise Grid org) it was installed in.
type AuthInfo struct {
	TeamID       string `json:"team_id"`
	Team         string `json:"team"`
	UserID       string `json:"user_id"`
	BotID        string `json:"bot_id"`
	EnterpriseID string `json:"enterprise_id"`
}

// AuthTest checks the token and names its workspace (auth.test).
func (c *Client) AuthTest(ctx context.Context) (AuthInfo, error) {
	var out AuthInfo
	err := c.Call(ctx, "auth.test", nil, &out)
	return out, err
}
