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
	"syscall"

	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/version"
	"github.com/spf13/cobra"
)

// Exit codes, one per error kind.
const (
	exitError     = 1 // anything else
	exitUsage     = 2 // bad flags or arguments, invalid input
	exitNotFound  = 3
	exitForbidden = 4 // forbidden or unauthorized
	exitConflict  = 5
	exitRefused   = 6 // request --wait: the request was denied, expired, cancelled or failed
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "latch:", message(err))
		os.Exit(exitCode(err))
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "latch",
		Short:         "Just-in-time access, approved in Slack, taken away on time",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
		Long: `Latch grants temporary access after approval and takes it away on time.

Exit codes: 0 success, 1 error, 2 invalid input, 3 not found,
4 forbidden or unauthorized, 5 conflict, 6 request denied/expired/failed (--wait).`,
	}
	root.SetVersionTemplate("latch {{.Version}}\n")
	root.AddCommand(newServerCmd(), newFlowsCmd(), newWebhookCmd(), newInitCmd(), newSlackCmd(), newVersionCmd())
	addClientCommands(root)
	return root
}

type usageError struct{ error }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var re refusedError
	if errors.As(err, &re) {
		return exitRefused
	}
	var le *latch.Error
	if !errors.As(err, &le) {
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

func message(err error) string {
	var le *latch.Error
	if errors.As(err, &le) {
		msg := le.Message
		for k, v := range le.Details {
			msg += fmt.Sprintf("\n  %s: %v", k, v)
		}
		return msg + " (" + le.Code + ")"
	}
	return err.Error()
}
