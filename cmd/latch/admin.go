package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/latch"
	"github.com/spf13/cobra"
)

func adminCommands(o *clientOptions) []*cobra.Command {
	return []*cobra.Command{newUsersCmd(o), newDomainsCmd(o), newWhoamiCmd(o), newBotsCmd(o), newTokensCmd(o), newBackupCmd(o), newReconcileCmd(o)}
}

func newWhoamiCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who the token in LATCH_TOKEN speaks as",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			w, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			if o.out.format != "table" {
				return o.out.print(cmd.OutOrStdout(), w, nil)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "token\t%s\nadmin\t%v\n", w.Principal.Name, w.Principal.Admin)
			if w.User != nil {
				fmt.Fprintf(tw, "user\t%s\nrole\t%s\nkind\t%s\n", w.User.Email, w.User.Role, w.User.Kind)
			}
			for _, id := range w.Identities {
				fmt.Fprintf(tw, "identity %s\t%s\n", id.Service, id.ID)
			}
			return tw.Flush()
		},
	}
}

func newUsersCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users, their roles and identities (admins)"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			us, err := c.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			if o.out.format != "table" {
				return o.out.print(cmd.OutOrStdout(), httpapi.UserList{Users: orEmpty(us)}, nil)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EMAIL\tROLE\tKIND")
			for _, u := range us {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Email, u.Role, u.Kind)
			}
			return tw.Flush()
		},
	}, &cobra.Command{
		Use: "show EMAIL", Short: "Show a user and their identities", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			v, err := c.GetUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if o.out.format != "table" {
				return o.out.print(cmd.OutOrStdout(), v, nil)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "email\t%s\nrole\t%s\nkind\t%s\n", v.User.Email, v.User.Role, v.User.Kind)
			for _, id := range v.Identities {
				fmt.Fprintf(tw, "identity %s\t%s (%s)\n", id.Service, id.ID, id.Source)
			}
			return tw.Flush()
		},
	})
	var role string
	setRole := &cobra.Command{
		Use: "set-role EMAIL --role admin|member|guest", Short: "Set a user's role (creates the user if Latch does not know them yet)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			u, err := c.SetRole(cmd.Context(), args[0], latch.Role(role))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is now %s\n", u.Email, u.Role)
			return nil
		},
	}
	setRole.Flags().StringVar(&role, "role", "", "admin, member or guest (required)")
	_ = setRole.MarkFlagRequired("role")
	cmd.AddCommand(setRole, &cobra.Command{
		Use: "set-identity EMAIL SERVICE ID", Short: "Set a user's id in a service (e.g. an IAM user name, an Okta id)",
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			id, err := c.SetIdentity(cmd.Context(), args[0], args[1], args[2])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is %s in %s\n", id.Email, id.ID, id.Service)
			return nil
		},
	}, &cobra.Command{
		Use: "delete-identity EMAIL SERVICE", Short: "Forget a user's id in a service; the next grant discovers it again",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return c.DeleteIdentity(cmd.Context(), args[0], args[1])
		},
	}, &cobra.Command{
		Use: "import FILE.csv", Short: "Set roles and identities from a CSV file (email,role,kind,service,identity); all or nothing on bad rows",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			res, err := c.ImportUsers(cmd.Context(), data)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d users and %d identities\n", res.Users, res.Identities)
			return nil
		},
	}, &cobra.Command{
		Use: "export", Short: "Print every user and identity as CSV (the format import reads)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			data, err := c.ExportUsers(cmd.Context())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	})
	return cmd
}

func newDomainsCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "domains", Short: "Manage the organisation's email domains (admins): people in them join as members"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the domains", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ds, err := c.ListDomains(cmd.Context())
			if err != nil {
				return err
			}
			if o.out.format != "table" {
				return o.out.print(cmd.OutOrStdout(), httpapi.DomainList{Domains: orEmpty(ds)}, nil)
			}
			if len(ds) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no domains: every new person joins as a member")
			}
			for _, d := range ds {
				fmt.Fprintln(cmd.OutOrStdout(), d.Name)
			}
			return nil
		},
	}, &cobra.Command{
		Use: "add DOMAIN...", Short: "Add domains (existing users keep their roles)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			for _, a := range args {
				n, err := c.AddDomain(cmd.Context(), a)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "added %s\n", n)
			}
			return nil
		},
	}, &cobra.Command{
		Use: "remove DOMAIN...", Short: "Remove domains (existing users keep their roles)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			for _, a := range args {
				if err := c.RemoveDomain(cmd.Context(), strings.TrimSpace(a)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", a)
			}
			return nil
		},
	})
	return cmd
}
