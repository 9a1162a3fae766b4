package apiserver

import (
	"net/http"
	"strings"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// login exchanges email and password for a session token. Attempts are
// limited per client IP and per email, counted whether they succeed or not.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	var req v1.LoginRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	// The attempted identity goes into the audit event, so attempts
	// against an account, refused or not, can be found by its principal.
	st.subject = "User:" + req.Email
	if v := s.loginIP.allow(st.clientIP); !v.allowed {
		s.tooMany(w, r, v, "MCPD_LOGIN_RATE_LIMIT")
		return
	}
	if v := s.loginEmail.allow(strings.ToLower(req.Email)); !v.allowed {
		s.tooMany(w, r, v, "MCPD_LOGIN_RATE_LIMIT")
		return
	}
	raw, p, err := s.auth.Login(r.Context(), req.Email, req.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st.principal = p
	writeJSON(w, http.StatusOK, v1.LoginResponse{
		Token: raw, ExpiresAt: p.ExpiresAt,
		User: v1.User{ID: p.UserID, Email: p.Email, Name: p.Name, CreatedAt: p.CreatedAt},
	})
}

// logout revokes the session presented.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.auth.Logout(r.Context(), state(r).principal); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// me answers who the bearer is, from the cached principal.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p := state(r).principal
	writeJSON(w, http.StatusOK, v1.Me{
		User:             v1.User{ID: p.UserID, Email: p.Email, Name: p.Name, CreatedAt: p.CreatedAt},
		SessionExpiresAt: p.ExpiresAt,
	})
}
