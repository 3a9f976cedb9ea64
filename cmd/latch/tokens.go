package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/spf13/cobra"
)

func newBotsCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "bots", Short: "Manage bots: named non-human users that own API tokens (admins)"}
	var created httpapi.BotBody
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a bot", Args: cobra.ExactArgs(1),
		Example: `  latch bots create ci --may-request-for 'person.email.endsWith("@example.com")'
  latch bots create chatops --may-decide-as 'person.role == "admin"'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			created.Name = args[0]
			u, err := c.CreateBotWith(cmd.Context(), created)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created bot %s (%s)\n", args[0], u.Email)
			return nil
		},
	}
	botRuleFlags(create, &created.MayRequestFor, &created.MayDecideAs)
	var mayRequestFor, mayDecideAs string
	update := &cobra.Command{
		Use: "update NAME", Short: "Change a bot's rules (a flag left out keeps its rule; \"\" restores the default)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body httpapi.BotUpdate
			if cmd.Flags().Changed("may-request-for") {
				body.MayRequestFor = &mayRequestFor
			}
			if cmd.Flags().Changed("may-decide-as") {
				body.MayDecideAs = &mayDecideAs
			}
			if body.MayRequestFor == nil && body.MayDecideAs == nil {
				return fmt.Errorf("nothing to change: give --may-request-for or --may-decide-as")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			u, err := c.UpdateBot(cmd.Context(), args[0], body)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "updated bot %s: may_request_for %s; may_decide_as %s\n", u.Name,
				ruleOrDefault(u.MayRequestFor, "members of the organisation's domains"), ruleOrDefault(u.MayDecideAs, "nobody"))
			return nil
		},
	}
	botRuleFlags(update, &mayRequestFor, &mayDecideAs)
	cmd.AddCommand(create, update, &cobra.Command{
		Use: "list", Short: "List bots", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			bots, err := c.ListBots(cmd.Context())
			if err != nil {
				return err
			}
			if o.out.format != "table" {
				return o.out.print(cmd.OutOrStdout(), httpapi.BotList{Bots: orEmpty(bots)}, nil)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tMAY REQUEST FOR\tMAY DECIDE AS")
			for _, b := range bots {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", b.Name, ruleOrDefault(b.MayRequestFor, "(default: the organisation's domains)"),
					ruleOrDefault(b.MayDecideAs, "(default: nobody)"))
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use: "delete NAME", Short: "Revoke a bot's tokens and delete it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return c.DeleteBot(cmd.Context(), args[0])
		},
	})
	return cmd
}

// botRuleFlags adds the flags that set a bot's rules.
func botRuleFlags(cmd *cobra.Command, mayRequestFor, mayDecideAs *string) {
	cmd.Flags().StringVar(mayRequestFor, "may-request-for", "",
		"CEL rule over person (and bot): whom the bot may request access for; empty: members of the organisation's domains")
	cmd.Flags().StringVar(mayDecideAs, "may-decide-as", "",
		"CEL rule over person (and bot): as whom the bot may approve, deny or retry; empty: nobody (it decides as itself)")
}

func ruleOrDefault(rule, def string) string {
	if rule == "" {
		return def
	}
	return rule
}

func newTokensCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Manage API tokens (admins)"}
	var body httpapi.TokenBody
	issue := &cobra.Command{
		Use:     "issue --bot NAME --label L --scope SCOPE...",
		Short:   "Issue a token for a bot; the secret is printed once and never again",
		Example: `  latch tokens issue --bot ci --label "deploy pipeline" --scope requests:write --scope requests:read --expires 90d`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			out, err := c.IssueToken(cmd.Context(), body)
			if err != nil {
				return err
			}
			if o.out.format != "table" {
				return o.out.print(cmd.OutOrStdout(), out, nil)
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.Secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s for bot %s (%s); store the secret now: Latch keeps only its hash\n",
				out.Token.ID, body.Bot, strings.Join(out.Token.Scopes, ", "))
			return nil
		},
	}
	f := issue.Flags()
	f.StringVar(&body.Bot, "bot", "", "the bot the token acts as (required)")
	f.StringVar(&body.Label, "label", "", "what the token is for (required)")
	f.StringArrayVar(&body.Scopes, "scope", nil, "requests:read, requests:write, requests:approve or admin (repeatable)")
	f.StringVar(&body.ExpiresIn, "expires", "", "lifetime such as 90d or 12h; empty: never expires")
	_ = issue.MarkFlagRequired("bot")
	_ = issue.MarkFlagRequired("label")
	cmd.AddCommand(issue, &cobra.Command{
		Use: "list", Short: "List tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ts, err := c.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			if o.out.format != "table" {
				return o.out.print(cmd.OutOrStdout(), httpapi.TokenList{Tokens: orEmpty(ts)}, nil)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tOWNER\tLABEL\tSCOPES\tEXPIRES\tSTATE")
			for _, t := range ts {
				exp, state := "never", "live"
				if t.ExpiresAt != nil {
					exp = t.ExpiresAt.Format(time.RFC3339)
					if !t.ExpiresAt.After(time.Now()) {
						state = "expired"
					}
				}
				if t.RevokedAt != nil {
					state = "revoked"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Owner, t.Label, strings.Join(t.Scopes, ","), exp, state)
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use: "revoke ID", Short: "Revoke a token at once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	})
	return cmd
}
