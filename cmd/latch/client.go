package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/latchhq/latch/pkg/env"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/spf13/cobra"
)

type clientOptions struct {
	url    string
	asJSON bool
}

func (o *clientOptions) client() (*client.Client, error) {
	if o.url == "" {
		return nil, usageError{fmt.Errorf("no server: pass --url or set LATCH_URL")}
	}
	return client.New(o.url, os.Getenv("LATCH_TOKEN")), nil
}

func addClientCommands(root *cobra.Command) {
	o := &clientOptions{}
	pf := root.PersistentFlags()
	pf.StringVar(&o.url, "url", env.Or("LATCH_URL", "http://127.0.0.1:8080"), "Latch server URL (LATCH_URL); the token is read from LATCH_TOKEN")
	pf.BoolVar(&o.asJSON, "json", false, "print JSON")
	root.AddCommand(newRequestCmd(o), newGetCmd(o), newListCmd(o), newAuditCmd(o))
	addAdminCommands(root, o)
	for _, a := range []struct{ name, short string }{
		{"approve", "Approve a request as an approver"},
		{"deny", "Deny a request as an approver"},
		{"revoke", "End a request's access early"},
		{"cancel", "Withdraw a pending request"},
		{"retry", "Retry a failed request (admins)"},
	} {
		root.AddCommand(newActionCmd(o, a.name, a.short))
	}
}

func newRequestCmd(o *clientOptions) *cobra.Command {
	var (
		user, fieldsJSON, contextJSON string
		set                           []string
		wait                          bool
		waitFor                       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "request FLOW",
		Short: "Ask for access through a flow on a person's behalf",
		Example: `  latch request prod-access --user alice@example.com --field reason="incident 42" --field duration=30m --wait
  latch request prod-access --user alice@example.com --fields '{"reason":"deploy","duration":1800}'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			body := httpapi.CreateBody{Flow: args[0], UserEmail: user, Fields: map[string]any{}}
			if fieldsJSON != "" {
				if err := json.Unmarshal([]byte(fieldsJSON), &body.Fields); err != nil {
					return usageError{fmt.Errorf("--fields: not a JSON object: %v", err)}
				}
			}
			for _, kv := range set {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--field %q: write name=value", kv)}
				}
				body.Fields[k] = v
			}
			if contextJSON != "" {
				if err := json.Unmarshal([]byte(contextJSON), &body.Context); err != nil {
					return usageError{fmt.Errorf("--context: not a JSON object: %v", err)}
				}
			}
			r, err := c.CreateRequest(cmd.Context(), body)
			if err != nil {
				return err
			}
			if !wait {
				return o.printRequest(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "request %s is %s\n", r.ID, r.Status)
			return waitRequest(cmd, c, r, waitFor, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&user, "user", "", "email of the person the access is for (required)")
	f.StringArrayVar(&set, "field", nil, "a field as name=value (repeatable)")
	f.StringVar(&fieldsJSON, "fields", "", "fields as a JSON object")
	f.StringVar(&contextJSON, "context", "", "free-form context as a JSON object, shown to hooks and approvers")
	f.BoolVar(&wait, "wait", false, "show progress until the request is decided (and, for access, until it is active)")
	f.DurationVar(&waitFor, "timeout", time.Hour, "with --wait: give up after this long")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

// refusedError is a request that ended without access: denied, expired,
// cancelled or failed.
type refusedError struct{ r latch.Request }

func (e refusedError) Error() string {
	msg := fmt.Sprintf("request %s was %s", e.r.ID, e.r.Status)
	if e.r.Decision != nil && e.r.Decision.Reason != "" {
		msg += ": " + e.r.Decision.Reason
	}
	if e.r.Failure != nil {
		msg += ": " + e.r.Failure.Message
	}
	return msg
}

// waitRequest long-polls the wait route until the request is approved
// (approval-only), active, or ended without access, printing each change.
func waitRequest(cmd *cobra.Command, c *client.Client, r latch.Request, timeout time.Duration, o *clientOptions) error {
	deadline := time.Now().Add(timeout)
	last := r.Status
	for {
		switch r.Status {
		case latch.StatusApproved, latch.StatusActive, latch.StatusDeescalating, latch.StatusEnded:
			fmt.Fprintf(cmd.ErrOrStderr(), "request %s is %s\n", r.ID, r.Status)
			return o.printRequest(cmd.OutOrStdout(), r)
		case latch.StatusDenied, latch.StatusExpired, latch.StatusCancelled, latch.StatusFailed:
			_ = o.printRequest(cmd.OutOrStdout(), r)
			return refusedError{r}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("gave up after %s: request %s is still %s", timeout, r.ID, r.Status)
		}
		next, err := c.Wait(cmd.Context(), r.ID, min(left, httpapi.DefaultWait))
		if err != nil {
			return err
		}
		r = next
		if r.Status != last && !httpapi.Settled(r.Status) {
			fmt.Fprintf(cmd.ErrOrStderr(), "request %s is %s\n", r.ID, r.Status)
		}
		last = r.Status
	}
}

func newActionCmd(o *clientOptions, action, short string) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use:   action + " REQUEST_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			r, err := c.Act(cmd.Context(), args[0], action, httpapi.ActionBody{As: as, Reason: reason})
			if err != nil {
				return err
			}
			return o.printRequest(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "email of the person acting (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why")
	_ = cmd.MarkFlagRequired("as")
	return cmd
}

func newGetCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get REQUEST_ID",
		Short: "Show a request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			r, err := c.GetRequest(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.printRequest(cmd.OutOrStdout(), r)
		},
	}
}

func newListCmd(o *clientOptions) *cobra.Command {
	var f latch.RequestFilter
	var status string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List requests, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			f.Status = latch.Status(status)
			rs, err := c.ListRequests(cmd.Context(), f)
			if err != nil {
				return err
			}
			if o.asJSON {
				return printJSON(cmd.OutOrStdout(), rs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFLOW\tUSER\tSTATUS\tCREATED")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Flow, r.Requester.Email, r.Status, r.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only requests in this status")
	cmd.Flags().StringVar(&f.Flow, "flow", "", "only requests through this flow")
	cmd.Flags().StringVar(&f.User, "user", "", "only requests by this email")
	cmd.Flags().IntVar(&f.Limit, "limit", 0, "at most this many")
	return cmd
}

func newAuditCmd(o *clientOptions) *cobra.Command {
	var (
		f      client.AuditFilter
		since  string
		follow bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "audit [REQUEST_ID]",
		Short: "List, filter, follow and export the audit trail",
		Example: `  latch audit req_01...                                  # one request's trail
  latch audit --user bob@example.com --since 24h          # everything about bob in a day
  latch audit --type approved --type denied -f            # follow decisions as they happen
  latch audit --since 2026-11-01T00:00:00Z --format csv > november.csv`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				f.Request = args[0]
			}
			if since != "" {
				if f.Since, err = parseSince(since); err != nil {
					return usageError{err}
				}
			}
			w, err := newAuditWriter(cmd.OutOrStdout(), format, o.asJSON)
			if err != nil {
				return err
			}
			for {
				page, err := c.Audit(cmd.Context(), f)
				if err != nil {
					return err
				}
				for _, e := range page.Events {
					if err := w.write(e.Event); err != nil {
						return err
					}
				}
				f.After = page.Next
				if len(page.Events) > 0 && !follow {
					continue // there may be more
				}
				if err := w.flush(); err != nil || !follow {
					return err
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Request, "request", "", "only this request's events")
	fl.StringVar(&f.User, "user", "", "only events where this email asked or acted")
	fl.StringVar(&f.Flow, "flow", "", "only this flow's events")
	fl.StringArrayVar(&f.Types, "type", nil, "only events of this type (repeatable): requested, approved, denied, ...")
	fl.StringVar(&since, "since", "", "only events from this time on: a duration back from now (24h, 7d) or a time (RFC 3339)")
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new events as they happen")
	fl.StringVar(&format, "format", "table", "table, jsonl (the published event schema, one per line) or csv")
	return cmd
}

func parseSince(s string) (time.Time, error) {
	if d, err := latch.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: write a duration such as 24h or 7d, or a time such as 2026-11-25T09:00:00Z", s)
	}
	return t, nil
}

// auditWriter prints audit events as a table, JSON lines or CSV.
type auditWriter struct {
	write func(audit.Event) error
	flush func() error
}

func newAuditWriter(out io.Writer, format string, asJSON bool) (*auditWriter, error) {
	if asJSON {
		format = "jsonl"
	}
	switch format {
	case "jsonl":
		enc := json.NewEncoder(out)
		return &auditWriter{write: func(e audit.Event) error { return enc.Encode(e) }, flush: func() error { return nil }}, nil
	case "csv":
		cw := csv.NewWriter(out)
		header := false
		return &auditWriter{write: func(e audit.Event) error {
			if !header {
				header = true
				if err := cw.Write([]string{"id", "at", "type", "request_id", "flow", "requester", "actor_email", "actor_bot", "target", "grant_id", "reason", "source"}); err != nil {
					return err
				}
			}
			return cw.Write([]string{e.ID, e.At.Format(time.RFC3339Nano), e.Type, e.RequestID, e.Flow, e.Requester, e.Actor.Email, e.Actor.Bot,
				e.Target, e.GrantID, e.Reason, e.Source})
		}, flush: func() error { cw.Flush(); return cw.Error() }}, nil
	case "table":
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		header := false
		return &auditWriter{write: func(e audit.Event) error {
			if !header {
				header = true
				fmt.Fprintln(tw, "AT\tREQUEST\tTYPE\tACTOR\tREASON")
			}
			actor := e.Actor.Email
			if actor == "" {
				actor = "latch"
			}
			if e.Actor.Bot != "" {
				actor += " (via " + e.Actor.Bot + ")"
			}
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), e.RequestID, e.Type, actor, e.Reason)
			return err
		}, flush: tw.Flush}, nil
	}
	return nil, usageError{fmt.Errorf("--format %q: use table, jsonl or csv", format)}
}

func (o *clientOptions) printRequest(w io.Writer, r latch.Request) error {
	if o.asJSON {
		return printJSON(w, r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nflow\t%s\nuser\t%s\nstatus\t%s\n", r.ID, r.Flow, r.Requester.Email, r.Status)
	if r.TargetID != "" {
		fmt.Fprintf(tw, "target\t%s\n", r.TargetID)
	}
	for k, v := range r.Fields {
		fmt.Fprintf(tw, "field %s\t%v\n", k, v)
	}
	for _, a := range r.Approvals {
		fmt.Fprintf(tw, "approved by\t%s\n", a.By.Email)
	}
	if r.StartsAt != nil {
		fmt.Fprintf(tw, "starts\t%s\n", r.StartsAt.Format(time.RFC3339))
	}
	if r.EndsAt != nil {
		fmt.Fprintf(tw, "ends\t%s\n", r.EndsAt.Format(time.RFC3339))
	}
	if r.Failure != nil {
		fmt.Fprintf(tw, "failure\t%s: %s\n", r.Failure.Code, r.Failure.Message)
	}
	return tw.Flush()
}
