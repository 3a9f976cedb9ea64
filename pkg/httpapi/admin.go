package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/latchhq/latch/pkg/latch"
)

// adminRoutes adds the routes that manage people: users, their roles and
// identities, and the organisation's email domains. All need an admin.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/whoami", s.authed(s.whoami))
	mux.Handle("GET /v1/users", s.admin(s.listUsers))
	mux.Handle("GET /v1/users/export", s.admin(s.exportUsers))
	mux.Handle("POST /v1/users/import", s.admin(s.importUsers))
	mux.Handle("GET /v1/users/{email}", s.admin(s.getUser))
	mux.Handle("PUT /v1/users/{email}/role", s.admin(s.setRole))
	mux.Handle("PUT /v1/users/{email}/identities/{service}", s.admin(s.setIdentity))
	mux.Handle("DELETE /v1/users/{email}/identities/{service}", s.admin(s.deleteIdentity))
	mux.Handle("GET /v1/domains", s.admin(s.listDomains))
	mux.Handle("POST /v1/domains", s.admin(s.addDomain))
	mux.Handle("DELETE /v1/domains/{domain}", s.admin(s.removeDomain))
}

func (s *Server) admin(h handlerFunc) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p Principal) error {
		if !p.Admin {
			return &latch.Error{Kind: latch.KindForbidden, Code: "missing_scope",
				Message: "This token lacks the admin scope.", Details: map[string]any{"scope": "admin"}}
		}
		return h(w, r, p)
	})
}

// Whoami is the answer of GET /v1/whoami: who the token speaks as.
type Whoami struct {
	Principal  Principal        `json:"principal"`
	User       *latch.User      `json:"user,omitempty"`
	Identities []latch.Identity `json:"identities,omitempty"`
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, p Principal) error {
	out := Whoami{Principal: p}
	if p.Email != "" {
		u, ids, err := s.Directory.User(r.Context(), p.Email)
		if err == nil {
			out.User, out.Identities = &u, ids
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// UserList is the answer of GET /v1/users.
type UserList struct {
	Users []latch.User `json:"users"`
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ Principal) error {
	us, err := s.Store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	if us == nil {
		us = []latch.User{}
	}
	writeJSON(w, http.StatusOK, UserList{Users: us})
	return nil
}

// UserView is the answer of GET /v1/users/{email}.
type UserView struct {
	User       latch.User       `json:"user"`
	Identities []latch.Identity `json:"identities"`
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, _ Principal) error {
	u, ids, err := s.Directory.User(r.Context(), r.PathValue("email"))
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []latch.Identity{}
	}
	writeJSON(w, http.StatusOK, UserView{User: u, Identities: ids})
	return nil
}

// RoleBody is the body of PUT /v1/users/{email}/role.
type RoleBody struct {
	Role latch.Role `json:"role"`
}

func (s *Server) setRole(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body RoleBody
	if err := decode(r, &body); err != nil {
		return err
	}
	u, err := s.Directory.SetRole(r.Context(), r.PathValue("email"), body.Role)
	if err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditRoleChanged, u.Email, map[string]any{"role": string(u.Role)})
	writeJSON(w, http.StatusOK, u)
	return nil
}

// IdentityBody is the body of PUT /v1/users/{email}/identities/{service}.
type IdentityBody struct {
	ID string `json:"id"`
}

func (s *Server) setIdentity(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body IdentityBody
	if err := decode(r, &body); err != nil {
		return err
	}
	id, err := s.Directory.SetIdentity(r.Context(), r.PathValue("email"), r.PathValue("service"), body.ID, latch.IdentityFromAdmin)
	if err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditIdentityMapped, id.Email, map[string]any{"service": id.Service, "identity": id.ID, "from": id.Source})
	writeJSON(w, http.StatusOK, id)
	return nil
}

func (s *Server) deleteIdentity(w http.ResponseWriter, r *http.Request, p Principal) error {
	if err := s.Directory.DeleteIdentity(r.Context(), r.PathValue("email"), r.PathValue("service")); err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditIdentityForgot, latch.NormalizeEmail(r.PathValue("email")), map[string]any{"service": r.PathValue("service")})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) exportUsers(w http.ResponseWriter, r *http.Request, _ Principal) error {
	var buf bytes.Buffer
	if err := s.Directory.Export(r.Context(), &buf); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
	return nil
}

func (s *Server) importUsers(w http.ResponseWriter, r *http.Request, p Principal) error {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		return decodeError(err)
	}
	res, err := s.Directory.Import(r.Context(), bytes.NewReader(data))
	if err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditUsersImported, "", map[string]any{"users": res.Users, "identities": res.Identities})
	writeJSON(w, http.StatusOK, res)
	return nil
}

// DomainList is the answer of GET /v1/domains.
type DomainList struct {
	Domains []latch.Domain `json:"domains"`
}

// DomainBody is the body of POST /v1/domains.
type DomainBody struct {
	Domain string `json:"domain"`
}

func (s *Server) listDomains(w http.ResponseWriter, r *http.Request, _ Principal) error {
	ds, err := s.Directory.Domains(r.Context())
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []latch.Domain{}
	}
	writeJSON(w, http.StatusOK, DomainList{Domains: ds})
	return nil
}

func (s *Server) addDomain(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body DomainBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if strings.TrimSpace(body.Domain) == "" {
		return &latch.Error{Kind: latch.KindInvalid, Code: "missing_fields", Message: "Name the domain: {\"domain\": \"example.com\"}.",
			Details: map[string]any{"domain": "is required"}}
	}
	name, err := s.Directory.AddDomain(r.Context(), body.Domain)
	if err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditDomainAdded, "", map[string]any{"domain": name})
	writeJSON(w, http.StatusCreated, map[string]string{"domain": name})
	return nil
}

func (s *Server) removeDomain(w http.ResponseWriter, r *http.Request, p Principal) error {
	if err := s.Directory.RemoveDomain(r.Context(), r.PathValue("domain")); err != nil {
		return err
	}
	s.record(r.Context(), p, latch.AuditDomainRemoved, "", map[string]any{"domain": r.PathValue("domain")})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
