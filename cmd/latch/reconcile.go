package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newReconcileCmd(o *clientOptions) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Check the targets against Latch's grants now and repair drift (admins)",
		Long: `Check now what each target that can be checked (aws_iam, tailscale) holds against the
grants Latch made, as latch server does every minute: an active grant whose
access is missing is granted again; a grant that ended in the last 7 days whose
access is still there is revoked again. Each correction is recorded as a
corrected_by_reconciler audit event and alerted. With --dry-run, drift is only
reported. Calls POST /v1/reconcile on a running latch server (admin token in
LATCH_TOKEN).`,
		Example: `  LATCH_TOKEN=$ADMIN latch reconcile --dry-run`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			rep, err := c.Reconcile(cmd.Context(), dryRun)
			if err != nil {
				return err
			}
			if o.out.format != "table" {
				return o.out.print(cmd.OutOrStdout(), rep, nil)
			}
			for _, f := range rep.Findings {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s/%s  %s (%s): %s → %s", f.GrantID, f.Flow, f.TargetID, f.User, f.Identity, f.Found, f.Action)
				if f.Error != "" {
					fmt.Fprintf(cmd.OutOrStdout(), ": %s", f.Error)
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d grant(s) checked, %d differed\n", rep.Checked, len(rep.Findings))
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report drift without correcting it")
	return cmd
}
