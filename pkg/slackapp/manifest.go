package slackapp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// CheckPublicURL checks the base URL a manifest names: Slack calls only
// https:// request URLs, on a host.
func CheckPublicURL(base string) error {
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %w", base, err)
	case u.Scheme != "https":
		return errors.New("Slack calls only https:// addresses; give the https:// address Slack reaches Latch at")
	case u.Host == "":
		return fmt.Errorf("%q names no host", base)
	}
	return nil
}

// ShortcutRequestAccess is the callback id of the global shortcut
// "Request access", which opens the flow picker as /latch does.
const ShortcutRequestAccess = "latch_request_access"

// Scopes are the bot scopes Latch needs, each with why.
var Scopes = []struct{ Name, Why string }{
	{"commands", "the /latch slash command"},
	{"chat:write", "post approval messages, update them as requests move on, and DM requesters"},
	{"chat:write.public", "post to a flow's public approval channel without being invited to it first"},
	{"im:write", "open the DMs to requesters (and to approvers of flows without an approval channel)"},
	{"users:read", "learn who clicked or typed: users.info, and whether they are a guest or a Slack Connect user"},
	{"users:read.email", "match Slack people to Latch users by email (users.info, users.lookupByEmail)"},
}

// Manifest is a Slack app manifest (YAML, with comments) for a Latch
// reachable at baseURL: the /latch command, interactivity, options and
// events URLs, and the bot scopes. With socketMode the app connects out
// over Socket Mode instead, and no URL is needed.
func Manifest(baseURL string, socketMode bool) string {
	base := strings.TrimRight(baseURL, "/")
	var b strings.Builder
	b.WriteString(`# Slack app manifest for Latch. Paste it at https://api.slack.com/apps → Create New App → From a manifest.
display_information:
  name: Latch
  description: Just-in-time access, approved in Slack, taken away on time.
  background_color: "#1d3557"
features:
  app_home:
    home_tab_enabled: true # your requests, your access, and what waits for you
    messages_tab_enabled: true
    messages_tab_read_only_enabled: true
  bot_user:
    display_name: Latch
    always_online: true
  slash_commands:
    - command: /latch
`)
	if !socketMode {
		fmt.Fprintf(&b, "      url: %s/slack/commands\n", base)
	}
	b.WriteString(`      description: Request access; see who Latch thinks you are
      usage_hint: "[req FLOW | whoami | help]"
      should_escape: false
  shortcuts:
    - name: Request access
      type: global
      callback_id: ` + ShortcutRequestAccess + `
      description: Pick a flow and request access, as /latch does
oauth_config:
  scopes:
    bot:
`)
	for _, s := range Scopes {
		fmt.Fprintf(&b, "      - %s # %s\n", s.Name, s.Why)
	}
	b.WriteString(`settings:
  event_subscriptions:
`)
	if !socketMode {
		fmt.Fprintf(&b, "    request_url: %s/slack/events\n", base)
	}
	b.WriteString(`    bot_events:
      - app_home_opened # publish the person's Home tab
      - app_uninstalled # logged as an error: Latch can no longer post
      - tokens_revoked # the same
  interactivity:
    is_enabled: true
`)
	if !socketMode {
		fmt.Fprintf(&b, "    request_url: %s/slack/interactions\n", base)
		fmt.Fprintf(&b, "    message_menu_options_url: %s/slack/options\n", base)
	}
	fmt.Fprintf(&b, `  org_deploy_enabled: false
  socket_mode_enabled: %t
  token_rotation_enabled: false
`, socketMode)
	return b.String()
}
