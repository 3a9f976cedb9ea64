package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// SlackDM sends direct messages with the function's own Slack bot token
// (scopes users:read.email and chat:write): users.lookupByEmail, then
// chat.postMessage to the user's id, which opens the DM with the bot. The
// text is never logged, and Slack's answers are read for ok/error only.
type SlackDM struct {
	Token  string
	APIURL string // https://slack.com/api/ when empty
	Client *http.Client
}

// SendPassword implements Messenger.
func (s SlackDM) SendPassword(ctx context.Context, email, text string) error {
	var found struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := s.call(ctx, "users.lookupByEmail", url.Values{"email": {email}}, &found); err != nil {
		return err
	}
	if found.User.ID == "" {
		return fmt.Errorf("slack users.lookupByEmail: no user id for %s", email)
	}
	return s.call(ctx, "chat.postMessage", url.Values{"channel": {found.User.ID}, "text": {text}}, nil)
}

func (s SlackDM) call(ctx context.Context, method string, form url.Values, out any) error {
	base := s.APIURL
	if base == "" {
		base = "https://slack.com/api/"
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/"+method, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("slack %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error names the URL only: the form (and the text) is not in it.
		return fmt.Errorf("slack %s: %w", method, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("slack %s: %w", method, err)
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &status); err != nil {
		return fmt.Errorf("slack %s: HTTP %d, not a Slack answer", method, resp.StatusCode)
	}
	if !status.OK {
		return fmt.Errorf("slack %s: %s", method, status.Error)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}
