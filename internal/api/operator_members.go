package api

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

type memberView struct {
	MemberID  string `json:"member_id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

func toMemberView(m webhook.Member) memberView {
	return memberView{MemberID: m.ID, Email: m.Email, Role: m.Role, CreatedAt: apiTime(m.CreatedAt)}
}

// normalizeEmail trims and lower-cases an address and accepts it only if
// it is a bare address (no display name, no quoting) with a dotted domain.
func normalizeEmail(raw string) (string, *apiError) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", invalid("email", "is required")
	}
	if len(e) > 254 {
		return "", invalid("email", "must be at most 254 characters")
	}
	bad := invalid("email", "%q is not an email address like name@example.com", truncate(raw, 100))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", bad
	}
	at := strings.LastIndexByte(e, '@')
	local, domain := e[:at], e[at+1:]
	if len(local) > 64 || !strings.Contains(domain, ".") || strings.ContainsAny(domain, "[]") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", bad
	}
	return e, nil
}

func checkRole(role string) *apiError {
	switch role {
	case webhook.RolePrimaryOwner, webhook.RoleOwner, webhook.RoleMember:
		return nil
	}
	return invalid("role", "must be %s, %s or %s, got %q", webhook.RolePrimaryOwner, webhook.RoleOwner, webhook.RoleMember, truncate(role, 50))
}

func hashPassword(password string) (string, *apiError) {
	h, err := auth.HashPassword(password)
	if err != nil {
		return "", invalid("password", "%s", strings.TrimPrefix(err.Error(), "password "))
	}
	return h, nil
}

func (s *Server) createMember(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Email    *string `json:"email"`
		Role     *string `json:"role"`
		Password *string `json:"password"`
	}
	acc, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	if err := decode(w, r, operatorBodyBytes, memberShape, &req); err != nil {
		return err
	}
	if req.Email == nil {
		return invalid("email", "is required")
	}
	email, aerr := normalizeEmail(*req.Email)
	if aerr != nil {
		return aerr
	}
	if req.Role == nil {
		return invalid("role", "is required")
	}
	if aerr := checkRole(*req.Role); aerr != nil {
		return aerr
	}
	if req.Password == nil {
		return invalid("password", "is required")
	}
	hash, aerr := hashPassword(*req.Password)
	if aerr != nil {
		return aerr
	}
	now := s.Clock.Now()
	m, err := s.Store.MemberCreate(r.Context(), store.MemberCreateParams{
		ID: webhook.NewID("mem", now), AccountID: acc.ID, Email: email, Role: *req.Role, PasswordHash: hash, Now: now,
	})
	if err != nil {
		return err
	}
	writeData(w, http.StatusCreated, toMemberView(m))
	return nil
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, c caller) error {
	acc, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	l, aerr := s.listParams(r, acc.ID)
	if aerr != nil {
		return aerr
	}
	page, err := s.Store.MemberList(r.Context(), store.MemberListParams{AccountID: acc.ID, Cursor: l.after, Limit: l.limit})
	if err != nil {
		return err
	}
	writePage(w, l, page, toMemberView)
	return nil
}

// updateMember changes email, role or password. Setting role to
// primary-owner transfers ownership: the previous primary owner becomes
// an owner in the same transaction.
func (s *Server) updateMember(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Email    field[string] `json:"email"`
		Role     field[string] `json:"role"`
		Password field[string] `json:"password"`
	}
	acc, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	_, err = s.Store.MemberGet(r.Context(), store.MemberGetParams{AccountID: acc.ID, ID: r.PathValue("member_id")})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("member")
	}
	if err != nil {
		return err
	}
	if err := decode(w, r, operatorBodyBytes, memberShape, &req); err != nil {
		return err
	}
	p := store.MemberUpdateParams{AccountID: acc.ID, ID: r.PathValue("member_id"), Now: s.Clock.Now()}
	if !req.Email.Set && !req.Role.Set && !req.Password.Set {
		return invalid("body", "nothing to change: give email, role or password")
	}
	for _, f := range []struct {
		name string
		null bool
	}{{"email", req.Email.Null}, {"role", req.Role.Null}, {"password", req.Password.Null}} {
		if f.null {
			return invalid(f.name, "must be a string, not null")
		}
	}
	if req.Email.Set {
		email, aerr := normalizeEmail(req.Email.V)
		if aerr != nil {
			return aerr
		}
		p.Email = &email
	}
	if req.Role.Set {
		if aerr := checkRole(req.Role.V); aerr != nil {
			return aerr
		}
		p.Role = &req.Role.V
	}
	if req.Password.Set {
		hash, aerr := hashPassword(req.Password.V)
		if aerr != nil {
			return aerr
		}
		p.PasswordHash = &hash
	}
	m, err := s.Store.MemberUpdate(r.Context(), p)
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("member")
	}
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, toMemberView(m))
	return nil
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, c caller) error {
	acc, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	id := r.PathValue("member_id")
	err = s.Store.MemberDelete(r.Context(), store.MemberDeleteParams{AccountID: acc.ID, ID: id, Now: s.Clock.Now()})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("member")
	}
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, map[string]any{"member_id": id, "deleted": true})
	return nil
}
