package identity

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// CSVHeader is the header of the users file that Export writes and Import
// reads: one row per user and identity; a user without identities has one
// row with service and identity empty.
var CSVHeader = []string{"email", "role", "kind", "service", "identity"}

// Export writes every user and identity as CSV.
func (d *Directory) Export(ctx context.Context, w io.Writer) error {
	users, err := d.Store.ListUsers(ctx)
	if err != nil {
		return err
	}
	all, err := d.Store.ListIdentities(ctx, "")
	if err != nil {
		return err
	}
	byEmail := map[string][]latch.Identity{}
	for _, id := range all {
		byEmail[id.Email] = append(byEmail[id.Email], id)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, u := range users {
		ids := byEmail[u.Email]
		if len(ids) == 0 {
			ids = []latch.Identity{{}}
		}
		for _, id := range ids {
			if err := cw.Write([]string{u.Email, string(u.Role), string(u.Kind), id.Service, id.ID}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// ImportResult counts what Import did.
type ImportResult struct {
	Users      int `json:"users"`
	Identities int `json:"identities"`
}

type importRow struct {
	line           int
	email, service string
	role           latch.Role
	kind           latch.UserKind
	id             string
}

// Import reads users and identities as CSV (the format Export writes) and
// sets each user's role and kind and each identity. The whole file is
// checked first: any bad row is a KindInvalid *latch.Error naming every bad
// line, and then nothing is written. A role left empty keeps an existing
// user's role (or gives a new one the role RoleFor gives).
func (d *Directory) Import(ctx context.Context, r io.Reader) (ImportResult, error) {
	rows, err := parseCSV(r)
	if err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	// The domains are read once, when the first new user needs a role.
	var domains []latch.Domain
	roleFor := func(email string) (latch.Role, error) {
		if domains == nil {
			ds, err := d.Store.ListDomains(ctx)
			if err != nil {
				return "", fmt.Errorf("list domains: %w", err)
			}
			domains = append([]latch.Domain{}, ds...)
		}
		return roleIn(email, domains), nil
	}
	seen := map[string]bool{}
	for _, row := range rows {
		if !seen[row.email] {
			seen[row.email] = true
			if err := d.importUser(ctx, row, roleFor); err != nil {
				return res, fmt.Errorf("line %d: %w", row.line, err)
			}
			res.Users++
		}
		if row.service != "" {
			// parseCSV checked the row and importUser made the user: what is
			// left of SetIdentity is the write.
			id := latch.Identity{Email: row.email, Service: row.service, ID: row.id, Source: latch.IdentityFromImport,
				UpdatedAt: d.Clock.Now()}
			if err := d.Store.PutIdentity(ctx, id); err != nil {
				return res, fmt.Errorf("line %d: %w", row.line, err)
			}
			res.Identities++
		}
	}
	return res, nil
}

func (d *Directory) importUser(ctx context.Context, row importRow, roleFor func(string) (latch.Role, error)) error {
	for range 5 {
		u, err := d.Store.GetUser(ctx, row.email)
		switch {
		case errors.Is(err, latch.ErrNotFound):
			u = latch.User{ID: newUserID(), Email: row.email, Kind: latch.KindPerson, CreatedAt: d.Clock.Now()}
			if u.Role, err = roleFor(row.email); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if row.role != "" {
			u.Role = row.role
		}
		if row.kind != "" {
			u.Kind = row.kind
		}
		u.UpdatedAt = d.Clock.Now()
		if err = d.Store.PutUser(ctx, u); !errors.Is(err, latch.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("import %s: %w", row.email, latch.ErrConflict)
}

func parseCSV(r io.Reader) ([]importRow, error) {
	cr := csv.NewReader(io.LimitReader(r, 16<<20))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	records, err := cr.ReadAll()
	if err != nil {
		return nil, latch.Errorf(latch.KindInvalid, "invalid_csv", "The file is not valid CSV: %v.", err)
	}
	if len(records) == 0 {
		return nil, latch.Errorf(latch.KindInvalid, "invalid_csv", "The file is empty; the first line must be %s.", strings.Join(CSVHeader, ","))
	}
	col := map[string]int{}
	for i, h := range records[0] {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if _, ok := col["email"]; !ok {
		return nil, latch.Errorf(latch.KindInvalid, "invalid_csv", "Line 1 must be a header naming the columns: %s.", strings.Join(CSVHeader, ","))
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var rows []importRow
	var problems []string
	for n, rec := range records[1:] {
		line := n + 2
		row := importRow{line: line, email: latch.NormalizeEmail(get(rec, "email")), role: latch.Role(strings.ToLower(get(rec, "role"))),
			kind: latch.UserKind(strings.ToLower(get(rec, "kind"))), service: get(rec, "service"), id: get(rec, "identity")}
		switch {
		case len(rec) == 1 && strings.TrimSpace(rec[0]) == "":
			continue // a blank line
		case !latch.ValidEmail(row.email):
			problems = append(problems, fmt.Sprintf("line %d: %q is not an email address", line, row.email))
		case row.role != "" && !row.role.Valid():
			problems = append(problems, fmt.Sprintf("line %d: %q is not a role (admin, member or guest)", line, row.role))
		case row.kind != "" && row.kind != latch.KindPerson && row.kind != latch.KindBot:
			problems = append(problems, fmt.Sprintf("line %d: %q is not a kind (person or bot)", line, row.kind))
		case row.service != "" && !ValidService(row.service):
			problems = append(problems, fmt.Sprintf("line %d: %q is not a service name", line, row.service))
		case (row.service == "") != (row.id == ""):
			problems = append(problems, fmt.Sprintf("line %d: service and identity go together: give both or neither", line))
		default:
			rows = append(rows, row)
		}
	}
	if len(problems) > 0 {
		return nil, &latch.Error{Kind: latch.KindInvalid, Code: "invalid_csv",
			Message: "Nothing was imported: " + strings.Join(problems, "; ") + ".", Details: map[string]any{"problems": problems}}
	}
	return rows, nil
}
