package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/latchhq/latch/pkg/httpapi"
	"github.com/latchhq/latch/pkg/identity"
	"github.com/latchhq/latch/pkg/latch"
)

// Whoami says who the token speaks as.
func (c *Client) Whoami(ctx context.Context) (httpapi.Whoami, error) {
	var w httpapi.Whoami
	return w, c.do(ctx, http.MethodGet, "/v1/whoami", nil, &w)
}

// ListUsers lists every user.
func (c *Client) ListUsers(ctx context.Context) ([]latch.User, error) {
	var out httpapi.UserList
	return out.Users, c.do(ctx, http.MethodGet, "/v1/users", nil, &out)
}

// GetUser reads a user and their identities.
func (c *Client) GetUser(ctx context.Context, email string) (httpapi.UserView, error) {
	var out httpapi.UserView
	return out, c.do(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(email), nil, &out)
}

// SetRole sets a user's role, creating the user if needed.
func (c *Client) SetRole(ctx context.Context, email string, role latch.Role) (latch.User, error) {
	var u latch.User
	return u, c.do(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(email)+"/role", httpapi.RoleBody{Role: role}, &u)
}

// SetIdentity sets a user's id in a service.
func (c *Client) SetIdentity(ctx context.Context, email, service, id string) (latch.Identity, error) {
	var out latch.Identity
	return out, c.do(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(email)+"/identities/"+url.PathEscape(service),
		httpapi.IdentityBody{ID: id}, &out)
}

// DeleteIdentity forgets a user's id in a service.
func (c *Client) DeleteIdentity(ctx context.Context, email, service string) error {
	return c.do(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(email)+"/identities/"+url.PathEscape(service), nil, nil)
}

// ExportUsers returns every user and identity as CSV.
func (c *Client) ExportUsers(ctx context.Context) ([]byte, error) {
	return c.raw(ctx, http.MethodGet, "/v1/users/export", nil)
}

// ImportUsers sends users and identities as CSV.
func (c *Client) ImportUsers(ctx context.Context, csv []byte) (identity.ImportResult, error) {
	var out identity.ImportResult
	return out, c.send(ctx, http.MethodPost, "/v1/users/import", "text/csv", bytes.NewReader(csv), &out)
}

// ListDomains lists the organisation's email domains.
func (c *Client) ListDomains(ctx context.Context) ([]latch.Domain, error) {
	var out httpapi.DomainList
	return out.Domains, c.do(ctx, http.MethodGet, "/v1/domains", nil, &out)
}

// AddDomain adds a domain and returns its normalized name.
func (c *Client) AddDomain(ctx context.Context, domain string) (string, error) {
	var out map[string]string
	return out["domain"], c.do(ctx, http.MethodPost, "/v1/domains", httpapi.DomainBody{Domain: domain}, &out)
}

// RemoveDomain removes a domain.
func (c *Client) RemoveDomain(ctx context.Context, domain string) error {
	return c.do(ctx, http.MethodDelete, "/v1/domains/"+url.PathEscape(domain), nil, nil)
}

// raw performs a call and returns the answer's body as it is.
func (c *Client) raw(ctx context.Context, method, path string, body io.Reader) ([]byte, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = io.ReadAll(body); err != nil {
			return nil, err
		}
	}
	return c.exchange(ctx, method, path, http.Header{}, b, 64<<20)
}

// AuditFilter selects audit events for Audit.
type AuditFilter struct {
	After   uint64
	Limit   int
	Request string
	User    string
	Flow    string
	Types   []string
	Since   time.Time
}

// Audit reads the audit feed after a position, filtered.
func (c *Client) Audit(ctx context.Context, f AuditFilter) (httpapi.AuditPage, error) {
	q := url.Values{}
	if f.After > 0 {
		q.Set("after", fmt.Sprint(f.After))
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	for k, v := range map[string]string{"request": f.Request, "user": f.User, "flow": f.Flow} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for _, t := range f.Types {
		q.Add("type", t)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	var out httpapi.AuditPage
	return out, c.do(ctx, http.MethodGet, "/v1/audit?"+q.Encode(), nil, &out)
}

// Backup downloads a consistent copy of the server's store (admins; latch
// server only) into w and returns the number of bytes written.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.roundTrip(ctx, http.MethodGet, "/v1/backup", nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, apiError(resp.StatusCode, data)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("GET /v1/backup: read answer: %w", err)
	}
	return n, nil
}
