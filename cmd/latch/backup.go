package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/latchhq/latch/pkg/boltstore"
	"github.com/spf13/cobra"
)

func newBackupCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of a running latch server's store to FILE (admins)",
		Long: `Write a consistent copy of a running latch server's store to FILE.

The server streams its bbolt file as it stands in one read transaction
(GET /v1/backup, admin token in LATCH_TOKEN) while it goes on working. The copy
is written to FILE.partial, checked as latch server checks its store at start,
and only then renamed to FILE: a failed backup never replaces a good one.

To restore: stop latch server, move the damaged latch.db aside, copy the backup
to <data>/latch.db, and start latch server (see docs/server.md).`,
		Example: `  LATCH_TOKEN=$ADMIN latch backup /var/backups/latch-$(date +%F).db`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			dst := args[0]
			if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
				return usageError{fmt.Errorf("%s is a directory; name the backup file", dst)}
			}
			tmp := dst + ".partial"
			f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			defer os.Remove(tmp) // gone after the rename; the partial copy otherwise
			n, err := c.Backup(cmd.Context(), f)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("backup to %s: %w", dst, err)
			}
			reqs, grants, err := boltstore.Verify(tmp)
			if err != nil {
				return fmt.Errorf("backup to %s: the copy received does not pass the store check, so it was not kept: %w", dst, err)
			}
			if err := os.Rename(tmp, dst); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			if d, err := os.Open(filepath.Dir(dst)); err == nil {
				_ = d.Sync()
				d.Close()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup written to %s: %d bytes, %d requests, %d grants\n", dst, n, reqs, grants)
			return nil
		},
	}
}
