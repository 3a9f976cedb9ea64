package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/latchhq/latch/pkg/flows"
	"github.com/latchhq/latch/pkg/hooks"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/latchhq/latch/pkg/oncall"
	"github.com/latchhq/latch/pkg/strategies"
	"github.com/spf13/cobra"
)

func newFlowsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "flows", Short: "Work with flow files"}
	var strict, offline bool
	validate := &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check flow files and directories; print each problem as file:line: reason",
		Long: `Check flow files: each PATH is a flow file or a directory of them (its *.yaml
and *.yml files). Every problem of every file is printed as file:line: reason,
and flow names must be unique across all the paths. No flow file at all is an
error.

Flows name environment variables (a strategy's secret_env, hooks.secret_env)
that latch server reads at start, and refuses to start without. validate
reports each one that is unset here as a warning, or, with --strict, as an
error: run it with --strict where the server runs, or in CI with the same
environment.`,
		Example: `  latch flows validate flows
  latch flows validate --strict flows/prod-access.yaml flows/deploy.yaml
  # as a pre-commit hook: latch flows validate "$@"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loaded, err := flows.LoadPaths(args, strategies.FlowOptions())
			if err != nil {
				var p *flows.Problems
				if errors.As(err, &p) {
					fmt.Fprintln(cmd.OutOrStdout(), p.Error())
					return usageError{fmt.Errorf("%d problem(s) in %s", len(p.List), strings.Join(args, " "))}
				}
				return usageError{err}
			}
			if len(loaded) == 0 {
				return usageError{fmt.Errorf("no flow files in %s: a flow file is a *.yaml or *.yml file, one flow each", strings.Join(args, " "))}
			}
			if !offline {
				// Ask the target systems whether the targets exist (an IAM
				// group, ...), for the strategies that can tell.
				esc := &strategies.Escalators{LookupEnv: os.LookupEnv}
				wrong, unchecked := strategies.Problems(strategies.ValidateTargets(cmd.Context(), loaded, esc.For))
				for _, p := range append(wrong, unchecked...) {
					fmt.Fprintln(cmd.OutOrStdout(), p.Error())
				}
				for _, w := range strategies.SessionWarnings(cmd.Context(), loaded, esc.For) {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
				}
				if n := len(wrong) + len(unchecked); n > 0 {
					return usageError{fmt.Errorf("%d target problem(s) in %s (--offline skips asking the target systems)", n, strings.Join(args, " "))}
				}
			}
			for _, f := range loaded {
				kind := "approval only"
				if f.Strategy != nil {
					kind = "strategy " + f.Strategy.Type
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ok  %-24s %s (%s)\n", f.Name, f.File, kind)
			}
			unset := environmentProblems(loaded, os.LookupEnv)
			for _, p := range unset {
				if strict {
					fmt.Fprintln(cmd.OutOrStdout(), p)
				} else {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+p)
				}
			}
			if strict && len(unset) > 0 {
				return usageError{fmt.Errorf("%d flow(s) valid, but latch server would refuse to start here: %d setting(s) missing from the environment", len(loaded), len(unset))}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d flow(s) valid\n", len(loaded))
			return nil
		},
	}
	validate.Flags().BoolVar(&strict, "strict", false, "fail when an environment variable the flows name is unset, as latch server would")
	validate.Flags().BoolVar(&offline, "offline", false, "check the files only; do not ask the target systems whether targets exist")
	cmd.AddCommand(validate)
	return cmd
}

// environmentProblems runs the checks latch server makes at start on what
// flows read from the environment: each strategy's settings (its secret_env)
// each flow's hooks (hooks.secret_env) and its on-call source (oncall.token_env).
func environmentProblems(loaded []*latch.Flow, lookup func(string) (string, bool)) []string {
	var out []string
	if err := hooks.New(lookup, nil).Check(loaded); err != nil {
		out = append(out, splitJoined(err)...)
	}
	if err := (&oncall.Sources{LookupEnv: lookup}).Check(loaded); err != nil {
		out = append(out, splitJoined(err)...)
	}
	esc := &strategies.Escalators{LookupEnv: lookup}
	for _, f := range loaded {
		if f.Strategy == nil {
			continue
		}
		if _, err := esc.For(f); err != nil {
			out = append(out, err.Error())
		}
	}
	return out
}

// splitJoined lists the errors of an errors.Join, or err alone.
func splitJoined(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}
