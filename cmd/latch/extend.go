package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
)

// newExtendCmd asks for more time on active access, as its requester.
func newExtendCmd(o *clientOptions) *cobra.Command {
	var as, reason, by string
	cmd := &cobra.Command{
		Use:   "extend REQUEST_ID --by DURATION",
		Short: "Ask for more time on your active access",
		Long: `Ask for more time on your active access, as its requester. The flow's
extension policy decides: an extension within its auto_within is granted at
once (the new end is shown); a longer one waits for the flow's approvers
(latch approve REQUEST_ID grants it). A flow without an extension policy
refuses, as does one whose max_total the request would pass.`,
		Example:           `  latch extend req_01hx --by 1h --as alice@example.com --reason "the migration runs late"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeRequests(latch.StatusActive),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := latch.ParseDuration(by)
			if err != nil || d < time.Second {
				return usageError{fmt.Errorf("--by %q is not a duration: write it like 30m, 1h or 1d", by)}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			dur, _ := json.Marshal(latch.FormatDuration(d))
			r, err := c.Extend(cmd.Context(), args[0], httpapi.ExtendBody{Duration: dur, Reason: reason, As: as})
			if err != nil {
				return err
			}
			if r.Extension != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "the extension of %s by %s waits for the flow's approvers\n", r.ID, latch.FormatDuration(d))
			}
			return o.printRequest(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "how much more time, such as 30m, 1h or 1d (required)")
	cmd.Flags().StringVar(&as, "as", "", "email of the requester (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, kept in the audit trail and shown to approvers")
	_ = cmd.MarkFlagRequired("by")
	_ = cmd.MarkFlagRequired("as")
	return cmd
}
