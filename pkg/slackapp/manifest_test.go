package slackapp_test

import (
	"slices"
	"testing"

	"github.com/latchhq/latch/pkg/slackapp"
	"go.yaml.in/yaml/v4"
)

type manifest struct {
	Features struct {
		Shortcuts []struct {
			Name       string `yaml:"name"`
			Type       string `yaml:"type"`
			CallbackID string `yaml:"callback_id"`
		} `yaml:"shortcuts"`
		SlashCommands []struct {
			Command string `yaml:"command"`
			URL     string `yaml:"url"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuth struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Events struct {
			RequestURL string   `yaml:"request_url"`
			BotEvents  []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			Enabled    bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
			OptionsURL string `yaml:"message_menu_options_url"`
		} `yaml:"interactivity"`
		SocketMode bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

func parseManifest(t *testing.T, text string) manifest {
	t.Helper()
	var m manifest
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		t.Fatalf("the manifest is not YAML: %v\n%s", err, text)
	}
	return m
}

func TestManifest(t *testing.T) {
	m := parseManifest(t, slackapp.Manifest("https://latch.example.com/", false))
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/latch" ||
		m.Features.SlashCommands[0].URL != "https://latch.example.com/slack/commands" {
		t.Errorf("slash commands %+v", m.Features.SlashCommands)
	}
	if m.Settings.Interactivity.RequestURL != "https://latch.example.com/slack/interactions" ||
		m.Settings.Interactivity.OptionsURL != "https://latch.example.com/slack/options" || !m.Settings.Interactivity.Enabled {
		t.Errorf("interactivity %+v", m.Settings.Interactivity)
	}
	if m.Settings.Events.RequestURL != "https://latch.example.com/slack/events" || m.Settings.SocketMode {
		t.Errorf("events %+v, socket mode %v", m.Settings.Events, m.Settings.SocketMode)
	}
	for _, s := range []string{"commands", "chat:write", "im:write", "users:read", "users:read.email"} {
		if !slices.Contains(m.OAuth.Scopes.Bot, s) {
			t.Errorf("scopes %v lack %s", m.OAuth.Scopes.Bot, s)
		}
	}

	if sc := m.Features.Shortcuts; len(sc) != 1 || sc[0].Type != "global" || sc[0].CallbackID != slackapp.ShortcutRequestAccess || sc[0].Name != "Request access" {
		t.Errorf("shortcuts %+v, want the global Request access", sc)
	}

	sm := parseManifest(t, slackapp.Manifest("", true))
	if !sm.Settings.SocketMode || sm.Settings.Interactivity.RequestURL != "" || sm.Features.SlashCommands[0].URL != "" {
		t.Errorf("socket mode manifest %+v", sm)
	}
}

func TestCheckPublicURL(t *testing.T) {
	for _, ok := range []string{"https://latch.example.com", "https://latch.example.com/base/"} {
		if err := slackapp.CheckPublicURL(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://latch.example.com", "latch.example.com", "https://", "ftp://x", ""} {
		if err := slackapp.CheckPublicURL(bad); err == nil {
			t.Errorf("%q accepted, want it refused (Slack calls only https)", bad)
		}
	}
}
