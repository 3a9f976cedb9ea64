// Command latch is Latch's command-line tool: `latch server` runs the whole
// system as one local process, `latch flows validate` checks flow files, and
// the other commands talk to a server's API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/version"
	"github.com/spf13/cobra"
)

// Exit codes, one per kind of outcome. exitCodes documents them; `latch
// --help` and docs/cli.md show that table.
const (
	exitOK        = 0
	exitError     = 1 // anything else: a fault of the server, the network, a server still busy after retries
	exitUsage     = 2 // bad flags or arguments, invalid input
	exitNotFound  = 3
	exitForbidden = 4 // forbidden or unauthorized
	exitConflict  = 5
	exitRefused   = 6 // request --wait: the request was denied, expired, cancelled or failed
	exitTimedOut  = 7 // request --wait: --timeout passed first
)

// exitCodes is the one table of exit codes.
var exitCodes = []struct {
	Code    int
	Meaning string
}{
	{exitOK, "success"},
	{exitError, "an error not listed below: the server failed, could not be reached, or stayed busy after retries"},
	{exitUsage, "usage: an unknown command or flag, a missing or extra argument, or input the server refused as invalid (400, 413, 422)"},
	{exitNotFound, "not found (404): no such request, flow, user, bot or token"},
	{exitForbidden, "unauthorized or forbidden (401, 403): no or a bad token, a missing scope, or a person not allowed to act"},
	{exitConflict, "conflict (409): the request is not in a status that allows this, or the thing exists"},
	{exitRefused, "request --wait: the request was denied, expired, was cancelled, or failed"},
	{exitTimedOut, "request --wait: --timeout passed before a decision (the request is withdrawn unless --keep)"},
}

func exitCodeTable() string {
	var b strings.Builder
	for _, e := range exitCodes {
		fmt.Fprintf(&b, "  %d  %s\n", e.Code, e.Meaning)
	}
	return b.String()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code, printing an
// error to stderr.
func run(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	msg := message(err)
	if code == exitUsage && !errors.As(err, new(ranError)) && cmd != nil {
		msg += fmt.Sprintf("\nRun '%s --help' for usage.", cmd.CommandPath())
	}
	fmt.Fprintln(root.ErrOrStderr(), "latch:", msg)
	return code
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "latch",
		Short:         "Just-in-time access, approved in Slack, taken away on time",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
		Long: `Latch grants temporary access after approval and takes it away on time.

The commands that talk to a server read its address from --url or LATCH_URL
and the API token from LATCH_TOKEN.

Exit codes:
` + exitCodeTable(),
	}
	root.SetVersionTemplate("latch {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServerCmd(), newFlowsCmd(), newWebhookCmd(), newInitCmd(), newSlackCmd(), newVersionCmd(), newAdminCmd())
	addClientCommands(root)
	markRuns(root)
	return root
}

// usageError is a mistake in the command line: exit 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// ranError is an error a command returned once it ran. An error without it
// came from cobra before the command ran: a bad flag, a missing argument or
// required flag, an unknown command — a usage error.
type ranError struct{ error }

func (e ranError) Unwrap() error { return e.error }

// unknownCommand refuses an argument to a command that only groups others:
// it names no subcommand.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// markRuns wraps every command's RunE so its errors are ranErrors, and
// makes each command that only groups others print its help, or refuse an
// unknown subcommand.
func markRuns(c *cobra.Command) {
	if c.HasSubCommands() && c.RunE == nil && c.Run == nil {
		c.Args = unknownCommand
		c.SuggestionsMinimumDistance = 2
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				return ranError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markRuns(sub)
	}
}

// timedOutError is request --wait giving up at its --timeout.
type timedOutError struct{ error }

func (e timedOutError) Unwrap() error { return e.error }

func exitCode(err error) int {
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	if errors.As(err, new(refusedError)) {
		return exitRefused
	}
	if errors.As(err, new(timedOutError)) {
		return exitTimedOut
	}
	var le *latch.Error
	if !errors.As(err, &le) {
		if !errors.As(err, new(ranError)) {
			return exitUsage // cobra refused the command line before it ran
		}
		return exitError
	}
	switch le.Kind {
	case latch.KindInvalid:
		return exitUsage
	case latch.KindNotFound:
		return exitNotFound
	case latch.KindForbidden, latch.KindUnauthorized:
		return exitForbidden
	case latch.KindConflict:
		return exitConflict
	}
	return exitError
}

// message is what the CLI prints for err: the server's message and code,
// the details the message does not already say (in a fixed order), and a
// hint when one helps.
func message(err error) string {
	var le *latch.Error
	msg := err.Error()
	if errors.As(err, &le) {
		msg = le.Message
		keys := make([]string, 0, len(le.Details))
		for k := range le.Details {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			line := fmt.Sprintf("%s: %v", k, le.Details[k])
			if !strings.Contains(le.Message, line) {
				msg += "\n  " + line
			}
		}
		msg += " (" + le.Code + ")"
	}
	var h hintError
	if errors.As(err, &h) {
		msg += "\nhint: " + h.hint
	}
	return msg
}

// hintError adds a hint for the person at the terminal to an error.
type hintError struct {
	error
	hint string
}

func (e hintError) Unwrap() error { return e.error }
