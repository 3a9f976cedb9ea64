package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/strategies"
	"github.com/spf13/cobra"
)

func newFlowsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "flows", Short: "Work with flow files"}
	var offline bool
	validate := &cobra.Command{
		Use:   "validate DIR",
		Short: "Check every flow file in DIR; print each problem as file:line: reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loaded, err := flows.Load(args[0], strategies.FlowOptions())
			if err != nil {
				var p *flows.Problems
				if errors.As(err, &p) {
					fmt.Fprintln(cmd.OutOrStdout(), p.Error())
					return usageError{fmt.Errorf("%d problem(s) in %s", len(p.List), args[0])}
				}
				return err
			}
			if !offline {
				// Ask the target systems whether the targets exist (an IAM
				// group, ...), for the strategies that can tell.
				esc := &strategies.Escalators{LookupEnv: os.LookupEnv}
				wrong, unchecked := strategies.Problems(strategies.ValidateTargets(cmd.Context(), loaded, esc.For))
				for _, p := range append(wrong, unchecked...) {
					fmt.Fprintln(cmd.OutOrStdout(), p.Error())
				}
				if n := len(wrong) + len(unchecked); n > 0 {
					return usageError{fmt.Errorf("%d target problem(s) in %s (--offline skips asking the target systems)", n, args[0])}
				}
			}
			for _, f := range loaded {
				kind := "approval only"
				if f.Strategy != nil {
					kind = "strategy " + f.Strategy.Type
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok  %-24s %s (%s)\n", f.Name, f.File, kind)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d flow(s) valid\n", len(loaded))
			return nil
		},
	}
	validate.Flags().BoolVar(&offline, "offline", false, "check the files only; do not ask the target systems whether targets exist")
	cmd.AddCommand(validate)
	return cmd
}
