package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/latchhq/latch/pkg/version"
	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	var out output
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit it was built from, and the API version",
		Long: `Print which build of latch this is: the module version (a tag, a pseudo-version,
or "dev" for a working tree), the commit, whether the tree had uncommitted
changes, the Go toolchain and the API version. The first line is what
--version prints, what GET /v1/info answers as "version", and what Latch's
outgoing calls send as User-Agent: latch/<version>.`,
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error { return out.check() },
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := version.Get()
			return out.print(cmd.OutOrStdout(), in, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "latch\t%s\n", in.Version)
				if in.Revision != "" {
					fmt.Fprintf(tw, "commit\t%s\n", in.Revision)
				}
				if in.Time != "" {
					fmt.Fprintf(tw, "commit time\t%s\n", in.Time)
				}
				fmt.Fprintf(tw, "modified\t%v\n", in.Modified)
				if in.Go != "" {
					fmt.Fprintf(tw, "go\t%s\n", in.Go)
				}
				fmt.Fprintf(tw, "api\t%s\n", in.API)
				return tw.Flush()
			})
		},
	}
	bindOutput(cmd, &out)
	return cmd
}
