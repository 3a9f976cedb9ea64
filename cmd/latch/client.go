package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/latchhq/latch/pkg/audit"
	"github.com/latchhq/latch/pkg/client"
	"github.com/latchhq/latch/pkg/env"
	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/spf13/cobra"
)

// clientOptions are the settings of the commands that talk to a server:
// --url, -v and, on those that print data, -o.
type clientOptions struct {
	url     string
	verbose bool
	out     output
}

// defaultURL is where `latch server` listens by default.
const defaultURL = "http://127.0.0.1:8080"

func (o *clientOptions) client() (*client.Client, error) {
	u, err := checkURL(o.url)
	if err != nil {
		return nil, err
	}
	c := client.New(u, os.Getenv("LATCH_TOKEN"))
	c.OnRetry = func(method, path string, err error, wait time.Duration) {
		if o.verbose {
			fmt.Fprintf(os.Stderr, "latch: %s %s: %s; trying again in %s\n", method, path, message(err), wait.Round(time.Millisecond))
		}
	}
	return c, nil
}

// checkURL refuses a server URL that is not an absolute http(s) URL, with
// the fix when the scheme is missing.
func checkURL(raw string) (string, error) {
	if raw == "" {
		return "", usageError{errors.New("no server: pass --url or set LATCH_URL (e.g. " + defaultURL + ")")}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if !strings.Contains(raw, "://") {
			return "", usageError{fmt.Errorf("--url %q has no scheme: write http://%s (or https://)", raw, raw)}
		}
		return "", usageError{fmt.Errorf("--url %q is not a URL such as %s", raw, defaultURL)}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", usageError{fmt.Errorf("--url %q: the scheme must be http or https", raw)}
	}
	return raw, nil
}

// hint adds what a person can do about err, where it is clear.
func (o *clientOptions) hint(err error) error {
	if err == nil {
		return nil
	}
	var le *latch.Error
	switch {
	case errors.As(err, &le) && le.Kind == latch.KindUnauthorized && os.Getenv("LATCH_TOKEN") == "":
		return hintError{err, "set LATCH_TOKEN to an API token: the server's LATCH_ADMIN_TOKEN, or one from 'latch tokens issue'"}
	case errors.As(err, &le) && le.Kind == latch.KindUnauthorized:
		return hintError{err, "the token in LATCH_TOKEN was refused; 'latch tokens list' shows which are revoked or expired"}
	case errors.As(err, &le):
		return err
	case errors.Is(err, syscall.ECONNREFUSED), isNoHost(err):
		return hintError{err, fmt.Sprintf("is `latch server` running at %s? Set LATCH_URL or pass --url to name another server", o.url)}
	}
	return err
}

func isNoHost(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// dataCommands are the client commands whose output is data: they take -o.
var dataCommands = map[string]bool{
	"request": true, "get": true, "list": true, "audit": true,
	"approve": true, "deny": true, "revoke": true, "done": true, "cancel": true, "retry": true,
	"extend": true,
	"whoami": true, "users list": true, "users show": true, "domains list": true,
	"bots list": true, "tokens issue": true, "tokens list": true, "reconcile": true,
	"review": true,
}

func addClientCommands(root *cobra.Command) {
	o := &clientOptions{}
	cmds := []*cobra.Command{newRequestCmd(o), newGetCmd(o), newListCmd(o), newAuditCmd(o)}
	for _, a := range []struct{ name, short string }{
		{"approve", "Approve a request as an approver"},
		{"deny", "Deny a request as an approver"},
		{"revoke", "End a request's access early"},
		{"cancel", "Withdraw a pending request"},
		{"retry", "Retry a failed request (admins)"},
	} {
		cmds = append(cmds, newActionCmd(o, a.name, a.short))
	}
	cmds = append(cmds, newDoneCmd(o))
	cmds = append(cmds, newExtendCmd(o))
	cmds = append(cmds, newReviewCmd(o))
	cmds = append(cmds, adminCommands(o)...)
	for _, c := range cmds {
		root.AddCommand(c)
		bindClient(c, o)
	}
}

// bindClient gives each runnable command under c the client flags, checks
// them before it runs, and adds hints to its errors.
func bindClient(c *cobra.Command, o *clientOptions) {
	for _, sub := range c.Commands() {
		bindClient(sub, o)
	}
	if c.RunE == nil {
		return
	}
	f := c.Flags()
	f.StringVar(&o.url, "url", env.Or("LATCH_URL", defaultURL), "the Latch server (LATCH_URL); the token is read from LATCH_TOKEN")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "say what is sent and retried on stderr")
	data := dataCommands[strings.TrimPrefix(c.CommandPath(), "latch ")]
	if data {
		bindOutput(c, &o.out)
	}
	pre, run := c.PreRunE, c.RunE
	c.PreRunE = func(cmd *cobra.Command, args []string) error {
		if _, err := checkURL(o.url); err != nil {
			return err
		}
		if data {
			if err := o.out.check(); err != nil {
				return err
			}
		}
		if pre != nil {
			return pre(cmd, args)
		}
		return nil
	}
	c.RunE = func(cmd *cobra.Command, args []string) error { return o.hint(run(cmd, args)) }
}

func newRequestCmd(o *clientOptions) *cobra.Command {
	var (
		user, fieldsJSON, contextJSON, key string
		start                              string
		set                                []string
		wait, keep                         bool
		waitFor                            time.Duration
		breakGlass                         bool
		reason                             string
	)
	cmd := &cobra.Command{
		Use:   "request FLOW",
		Short: "Ask for access through a flow on a person's behalf",
		Long: `Ask for access through a flow on a person's behalf.

Every request is sent with an Idempotency-Key, generated unless
--idempotency-key names one (a CI job can pass its build id): the call is
retried after a dropped connection or a busy server without making a second
request. -v prints the key.

With --wait, follow the request until it is decided (and, for access, until
it is active). If --timeout passes first, the request is withdrawn (unless
--keep) and the exit code is 7.

With --start, the access starts later: at an RFC 3339 time
(2026-11-25T09:30:00Z) or after a duration from now (2h, 1d), where the flow
allows a scheduled start (allow_scheduled_start), at most 90 days ahead.
Once approved the request is scheduled until then; --wait returns then.`,
		Example: `  latch request prod-access --user alice@example.com --field reason="incident 42" --field duration=30m --wait
  latch request prod-access --user alice@example.com --fields '{"reason":"deploy","duration":1800}'
  latch request prod-access --user alice@example.com --field reason="change window" --start 2026-11-25T22:00:00Z
  latch request prod-access --user alice@example.com --break-glass --reason "checkout is down, INC-9"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeFlows,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			body := httpapi.CreateBody{Flow: args[0], UserEmail: user, Fields: map[string]any{}}
			if breakGlass {
				if strings.TrimSpace(reason) == "" {
					return usageError{errors.New("--break-glass needs --reason: say why you need access now")}
				}
				body.BreakGlass, body.Reason = true, reason
			} else if reason != "" {
				return usageError{errors.New("--reason goes with --break-glass; a request's reason is one of its fields (--field reason=...)")}
			}
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
			if body.StartsAt, err = startFlag(start, time.Now()); err != nil {
				return usageError{err}
			}
			if contextJSON != "" {
				if err := json.Unmarshal([]byte(contextJSON), &body.Context); err != nil {
					return usageError{fmt.Errorf("--context: not a JSON object: %v", err)}
				}
			}
			if key == "" {
				key = client.NewIdempotencyKey()
			}
			if o.verbose {
				fmt.Fprintf(cmd.ErrOrStderr(), "latch: POST /v1/requests with Idempotency-Key: %s\n", key)
			}
			r, err := c.CreateRequestWithKey(cmd.Context(), key, body)
			if err != nil {
				return err
			}
			if !wait {
				return o.printRequest(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "request %s is %s\n", r.ID, r.Status)
			err = waitRequest(cmd, c, r, waitFor, o)
			var timedOut timedOutError
			if !errors.As(err, &timedOut) || keep {
				return err
			}
			// Nobody is waiting any more: withdraw the request, as the person
			// it is for, so that it is not approved for no one.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 30*time.Second)
			defer cancel()
			if _, cerr := c.Act(ctx, r.ID, "cancel", httpapi.ActionBody{As: user,
				Reason: fmt.Sprintf("latch request --wait stopped waiting after %s", waitFor)}); cerr != nil {
				return fmt.Errorf("%w; withdrawing it failed too: %s", err, message(cerr))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "request %s withdrawn (--keep leaves it pending)\n", r.ID)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&user, "user", "", "email of the person the access is for (required)")
	f.StringArrayVar(&set, "field", nil, "a field as name=value (repeatable)")
	f.StringVar(&fieldsJSON, "fields", "", "fields as a JSON object")
	f.StringVar(&contextJSON, "context", "", "free-form context as a JSON object, shown to hooks and approvers")
	f.StringVar(&start, "start", "", "start the access later: an RFC 3339 time or a duration from now (2h, 1d)")
	f.StringVar(&key, "idempotency-key", "", "the request's Idempotency-Key (at most 255 characters); the same key names the same request")
	f.BoolVar(&wait, "wait", false, "show progress until the request is decided (and, for access, until it is active)")
	f.DurationVar(&waitFor, "timeout", time.Hour, "with --wait: give up after this long, and withdraw the request unless --keep")
	f.BoolVar(&keep, "keep", false, "with --wait: leave the request pending when --timeout passes")
	f.BoolVar(&breakGlass, "break-glass", false, "grant access at once, with no approver, on a flow with break_glass (needs --reason)")
	f.StringVar(&reason, "reason", "", "with --break-glass: why access is needed now")
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
		case latch.StatusScheduled: // approved; access starts at its scheduled start
			fmt.Fprintf(cmd.ErrOrStderr(), "request %s is %s\n", r.ID, r.Status)
			return o.printRequest(cmd.OutOrStdout(), r)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return timedOutError{fmt.Errorf("gave up after %s: request %s is still %s", timeout, r.ID, r.Status)}
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
	return actionCmd(o, action, action, short, nil)
}

// newDoneCmd is "I'm done": the revoke of a request by its own requester,
// who may always end their access early (recorded as released). --as must
// name the requester; someone else ends access with latch revoke.
func newDoneCmd(o *clientOptions) *cobra.Command {
	cmd := actionCmd(o, "done", "revoke", "End your own access early (recorded as released)",
		func(ctx context.Context, c *client.Client, id, as string) error {
			r, err := c.GetRequest(ctx, id)
			if err != nil {
				return err
			}
			if latch.NormalizeEmail(as) != latch.NormalizeEmail(r.Requester.Email) {
				return usageError{fmt.Errorf("latch done ends the requester's own access: --as must be %s, who asked for %s; "+
					"to end someone else's access use latch revoke", r.Requester.Email, id)}
			}
			return nil
		})
	cmd.Long = `End your own access early: the revoke of a request by the person who asked
for it. The requester may always do it, even where the flow's allow_revoke is
false; the audit trail records released.`
	cmd.Example = `  latch done req_01hx --as alice@example.com --reason "deploy finished"`
	return cmd
}

// newReviewCmd is a reviewer's acknowledgement of a break glass.
func newReviewCmd(o *clientOptions) *cobra.Command {
	cmd := actionCmd(o, "review", "review", "Acknowledge a break glass as its reviewer (admins and approvers)", nil)
	cmd.Long = `Acknowledge a break glass: someone granted themselves access at once, and an
admin or one of the flow's approvers (never that person) confirms it was
warranted. Until someone does, Latch alerts the flow's broadcast channel and
the admins once the flow's review_within has passed, and every day after.`
	cmd.Example = `  latch review req_01hx --as lead@example.com --reason "matches INC-7"`
	return cmd
}

// actionCmd is a client command named use that sends the API action to a
// request, after check (if any) allows it.
func actionCmd(o *clientOptions, use, action, short string, check func(ctx context.Context, c *client.Client, id, as string) error) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use:               use + " REQUEST_ID",
		Short:             short,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeRequests(actionStatuses[action]...),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if check != nil {
				if err := check(cmd.Context(), c, args[0], as); err != nil {
					return err
				}
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
		Use:               "get REQUEST_ID",
		Short:             "Show a request",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeRequests(),
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
	var status, since, until, cursor string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List requests, newest first",
		Long: `List requests, newest first: a page of --limit (the server's default, 100).
When more match, the table ends with the command for the next page (--cursor;
in JSON and YAML, the answer's next); --all reads every page.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all && cursor != "" {
				return usageError{errors.New("--all reads every page: leave out --cursor")}
			}
			var err error
			if since != "" {
				if f.Since, err = parseTimeFlag("--since", since); err != nil {
					return usageError{err}
				}
			}
			if until != "" {
				if f.Until, err = parseTimeFlag("--until", until); err != nil {
					return usageError{err}
				}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			f.Status = latch.Status(status)
			var list httpapi.RequestList
			if all {
				list.Requests, err = c.AllRequests(cmd.Context(), f)
			} else {
				list, err = c.ListRequestsPage(cmd.Context(), f, cursor)
			}
			if err != nil {
				return err
			}
			if list.Requests == nil {
				list.Requests = []latch.Request{}
			}
			return o.out.print(cmd.OutOrStdout(), list, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tFLOW\tUSER\tSTATUS\tCREATED")
				for _, r := range list.Requests {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Flow, r.Requester.Email, r.Status, r.CreatedAt.Format(time.RFC3339))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if list.Next != "" {
					_, err := fmt.Fprintf(w, "More match: add --cursor %s for the next page, or --all.\n", list.Next)
					return err
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only requests created from this time on: a duration back from now (24h, 7d) or a time (RFC 3339)")
	cmd.Flags().StringVar(&until, "until", "", "only requests created before this time: a duration back from now or a time (RFC 3339)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "the page after the one that printed this cursor")
	cmd.Flags().BoolVar(&all, "all", false, "every matching request: follow the pages")
	cmd.Flags().StringVar(&status, "status", "", "only requests in this status")
	cmd.Flags().StringVar(&f.Flow, "flow", "", "only requests through this flow")
	_ = cmd.RegisterFlagCompletionFunc("status", completeStatuses)
	_ = cmd.RegisterFlagCompletionFunc("flow", o.completeFlows)
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
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: o.completeRequests(),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				f.Request = args[0]
			}
			if o.out.format != "table" {
				// The API's own page: every event, then the position to read on from.
				if follow {
					return usageError{errors.New("-o " + o.out.format + " prints one document: use --format jsonl to follow")}
				}
				page := httpapi.AuditPage{Events: []httpapi.AuditEntry{}}
				for {
					p, err := c.Audit(cmd.Context(), f)
					if err != nil {
						return err
					}
					page.Events = append(page.Events, p.Events...)
					page.Next, f.After = p.Next, p.Next
					if len(p.Events) == 0 {
						return o.out.print(cmd.OutOrStdout(), page, nil)
					}
				}
			}
			if since != "" {
				if f.Since, err = parseSince(since); err != nil {
					return usageError{err}
				}
			}
			w, err := newAuditWriter(cmd.OutOrStdout(), format)
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
	_ = cmd.RegisterFlagCompletionFunc("flow", o.completeFlows)
	_ = cmd.RegisterFlagCompletionFunc("request", o.completeRequests())
	fl.StringVar(&since, "since", "", "only events from this time on: a duration back from now (24h, 7d) or a time (RFC 3339)")
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new events as they happen")
	fl.StringVar(&format, "format", "table", "with -o table: table, jsonl (the published event schema, one per line) or csv")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"table", "jsonl", "csv"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func parseSince(s string) (time.Time, error) { return parseTimeFlag("--since", s) }

// parseTimeFlag reads the time a flag names: a duration back from now
// (24h, 7d) or an RFC 3339 time.
func parseTimeFlag(flag, s string) (time.Time, error) {
	if d, err := latch.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: write a duration such as 24h or 7d, or a time such as 2026-11-25T09:00:00Z", flag, s)
	}
	return t, nil
}

// auditWriter prints audit events as a table, JSON lines or CSV.
type auditWriter struct {
	write func(audit.Event) error
	flush func() error
}

func newAuditWriter(out io.Writer, format string) (*auditWriter, error) {
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
	return o.out.print(w, r, func(w io.Writer) error { return requestTable(w, r) })
}

// requestTable prints a request for people, fields in name order.
func requestTable(w io.Writer, r latch.Request) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nflow\t%s\nuser\t%s\nstatus\t%s\n", r.ID, r.Flow, r.Requester.Email, r.Status)
	if r.TargetID != "" {
		fmt.Fprintf(tw, "target\t%s\n", r.TargetID)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Fields)) {
		fmt.Fprintf(tw, "field %s\t%v\n", k, r.Fields[k])
	}
	for _, a := range r.Approvals {
		fmt.Fprintf(tw, "approved by\t%s\n", a.By.Email)
	}
	if r.ScheduledStart != nil && r.StartsAt == nil {
		fmt.Fprintf(tw, "scheduled start\t%s\n", r.ScheduledStart.Format(time.RFC3339))
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

// actionStatuses are the statuses in which an action can apply, for
// completing request ids.
var actionStatuses = map[string][]latch.Status{
	"approve": {latch.StatusPending}, "deny": {latch.StatusPending}, "cancel": {latch.StatusPending, latch.StatusScheduled},
	"revoke": {latch.StatusActive}, "retry": {latch.StatusFailed},
	"review": {latch.StatusActive, latch.StatusDeescalating, latch.StatusEnded},
}

// completeFlows offers the names of the flows the server offers to the API.
func (o *clientOptions) completeFlows(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 && cmd.Name() == "request" {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := o.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	fs, err := c.ListFlows(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	out := make([]cobra.Completion, 0, len(fs))
	for _, f := range fs {
		out = append(out, cobra.CompletionWithDesc(f.Name, f.Label))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeRequests offers the ids of the newest requests in the statuses
// given (any status when none), described by flow, person and status.
func (o *clientOptions) completeRequests(statuses ...latch.Status) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := o.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		filters := []latch.RequestFilter{{Limit: 100}}
		if len(statuses) > 0 {
			filters = filters[:0]
			for _, s := range statuses {
				filters = append(filters, latch.RequestFilter{Status: s, Limit: 100})
			}
		}
		var out []cobra.Completion
		for _, f := range filters {
			rs, err := c.ListRequests(cmd.Context(), f)
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			for _, r := range rs {
				out = append(out, cobra.CompletionWithDesc(r.ID, fmt.Sprintf("%s for %s, %s", r.Flow, r.Requester.Email, r.Status)))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeStatuses offers the request statuses.
func completeStatuses(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	out := make([]cobra.Completion, len(latch.Statuses))
	for i, s := range latch.Statuses {
		out[i] = string(s)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
