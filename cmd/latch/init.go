package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/slackapp"
	"github.com/latchhq/latch/pkg/strategies"
	"github.com/spf13/cobra"
)

//go:embed starter/*.yaml starter/access/*.yaml
var starterFlows embed.FS

// starterAccess is, per strategy other than webhook, the access flow `latch
// init --strategy TYPE` writes in place of prod-access.yaml
// (starter/access/TYPE.yaml), and the step that makes it work.
var starterAccess = map[string]string{
	"tailscale": `  2. Set tailnet in %[1]s/tailscale-access.yaml, add "group:prod-ssh": [] to the tailnet policy
     file's "groups" (with the rules it opens), create an API access token (or better, an OAuth
     client with the policy_file scope: docs/strategies/tailscale.md), and run Latch locally:
       LATCH_ADMIN_TOKEN=dev-admin-token LATCH_TAILSCALE_TOKEN=tskey-api-... latch server --flows %[1]s --domain example.com
`,
	"okta": `  2. Set org_url and the group in %[1]s/okta-access.yaml (an OKTA_GROUP; docs/strategies/okta.md), create an
     API token with the rights that page lists, check the flow against Okta with
       OKTA_API_TOKEN=... latch flows validate --strict %[1]s
     and run Latch locally:
       LATCH_ADMIN_TOKEN=dev-admin-token OKTA_API_TOKEN=... latch server --flows %[1]s --domain example.com
`,
	"github": `  2. Set org and the repository in %[1]s/github-access.yaml, create a fine-grained token (or a GitHub
     App) with the permissions docs/strategies/github.md lists, and run Latch locally:
       LATCH_ADMIN_TOKEN=dev-admin-token LATCH_GITHUB_TOKEN=github_pat_... latch server --flows %[1]s --domain example.com
`,
}

// starterChoices lists the strategies --strategy takes, sorted.
func starterChoices() []string {
	out := append(slices.Collect(maps.Keys(starterAccess)), "webhook")
	slices.Sort(out)
	return out
}

func newInitCmd() *cobra.Command {
	var approvers []string
	var channel, strategy string
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a starter flows directory (one approval flow, one access flow) and say what to do next",
		Long: `Write a starter flows directory, DIR (default "flows"): deploy-approval.yaml, an
approval-only flow, and prod-access.yaml, an access flow granted through the
webhook strategy. With --strategy TYPE (github, okta, tailscale), the access flow is
one of that strategy instead (TYPE-access.yaml). Existing files are never
overwritten.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "flows"
			if len(args) == 1 {
				dir = args[0]
			}
			written, err := writeStarterFlows(dir, approvers, channel, strategy)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, p := range written {
				fmt.Fprintln(out, "wrote", p)
			}
			run := `  2. Run Latch locally, with a demo webhook target beside it:
       latch webhook listen --addr 127.0.0.1:9999 &
       LATCH_ADMIN_TOKEN=dev-admin-token LATCH_WEBHOOK_SECRET=dev-webhook-secret latch server --flows %[1]s --domain example.com
`
			if step, ok := starterAccess[strategy]; ok {
				run = step
			}
			fmt.Fprintf(out, `
Next steps:
  1. Edit the approvers and channels in %[1]s/ to match your team; check them with
       latch flows validate %[1]s
`+run+`  3. Connect Slack: create an app from the manifest that
       latch slack manifest --url https://YOUR-PUBLIC-HOST      (or --socket-mode from a laptop)
     prints, install it, then start latch server with SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN
     (and SLACK_APP_TOKEN for Socket Mode) set, and run /latch in Slack.
See README.md and docs/slack.md.
`, dir)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&approvers, "approver", []string{"admin@example.com"}, "email of an approver of the starter flows (repeatable)")
	cmd.Flags().StringVar(&channel, "channel", "#access-requests", "Slack channel for the starter flows' approval messages")
	cmd.Flags().StringVar(&strategy, "strategy", "webhook", "the strategy of the starter access flow: "+strings.Join(starterChoices(), ", "))
	return cmd
}

// writeStarterFlows writes the starter flows into dir, refusing to replace
// any file, and checks that what it wrote loads.
func writeStarterFlows(dir string, approvers []string, channel, strategy string) ([]string, error) {
	for _, a := range approvers {
		if !latch.ValidEmail(latch.NormalizeEmail(a)) {
			return nil, usageError{fmt.Errorf("--approver %q is not an email address", a)}
		}
	}
	if channel == "" || strings.ContainsAny(channel, "\"\n") {
		return nil, usageError{fmt.Errorf("--channel %q is not a channel name or id", channel)}
	}
	names, err := fs.Glob(starterFlows, "starter/*.yaml")
	if err != nil {
		return nil, err
	}
	if _, ok := starterAccess[strategy]; ok {
		i := slices.Index(names, "starter/prod-access.yaml")
		names[i] = "starter/access/" + strategy + ".yaml"
	} else if strategy != "webhook" {
		return nil, usageError{fmt.Errorf("--strategy %q has no starter flow (the choices are %s)", strategy, strings.Join(starterChoices(), ", "))}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	data := struct{ Approvers, Channel string }{strings.Join(approvers, ", "), channel}
	var written []string
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(name, "starter/access/") {
			base = strings.TrimSuffix(base, ".yaml") + "-access.yaml"
		}
		path := filepath.Join(dir, base)
		if _, err := os.Stat(path); err == nil {
			return written, usageError{fmt.Errorf("%s exists; latch init never overwrites a file", path)}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return written, err
		}
		tmpl, err := template.ParseFS(starterFlows, name)
		if err != nil {
			return written, err
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, data); err != nil {
			return written, err
		}
		if _, err := flows.Parse(path, b.Bytes(), strategies.FlowOptions()); err != nil {
			return written, fmt.Errorf("the starter flow does not load: %w", err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

func newSlackCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "slack", Short: "Set up the Slack app"}
	var url string
	var socket bool
	manifest := &cobra.Command{
		Use:   "manifest --url https://HOST",
		Short: "Print the Slack app manifest to paste into Slack's \"create app from manifest\"",
		Long: `Print a Slack app manifest (YAML): the /latch command, the interactivity,
options and events URLs under --url, and the bot scopes Latch needs, each with
why. With --socket-mode no URL is needed: latch server connects out to Slack
when SLACK_APP_TOKEN is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := slackapp.CheckPublicURL(url); !socket && err != nil {
				return usageError{fmt.Errorf("--url: %w (or use --socket-mode)", err)}
			}
			fmt.Fprint(cmd.OutOrStdout(), slackapp.Manifest(url, socket))
			return nil
		},
	}
	manifest.Flags().StringVar(&url, "url", "", "the public base URL of Latch, e.g. https://latch.example.com")
	manifest.Flags().BoolVar(&socket, "socket-mode", false, "connect by Socket Mode (no public URL)")
	cmd.AddCommand(manifest)
	return cmd
}
