package api

import (
	"net/http"

	"github.com/hookrelay/hookrelay/internal/operations"
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
	m, err := s.Ops.MemberCreate(r.Context(), operations.Operator, acc.ID, operations.MemberInput{
		Email: req.Email, Role: req.Role, Password: req.Password})
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
	page, err := s.Ops.MemberList(r.Context(), acc.ID, l.after, l.limit)
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
	if _, err := s.Ops.Member(r.Context(), acc.ID, r.PathValue("member_id")); err != nil {
		return err
	}
	if err := decode(w, r, operatorBodyBytes, memberShape, &req); err != nil {
		return err
	}
	if !req.Email.Set && !req.Role.Set && !req.Password.Set {
		return invalid("body", "nothing to change: give email, role or password")
	}
	var p operations.MemberPatch
	for _, f := range []struct {
		name string
		v    field[string]
		dst  **string
	}{{"email", req.Email, &p.Email}, {"role", req.Role, &p.Role}, {"password", req.Password, &p.Password}} {
		if f.v.Null {
			return invalid(f.name, "must be a string, not null")
		}
		if f.v.Set {
			*f.dst = &f.v.V
		}
	}
	m, err := s.Ops.MemberUpdate(r.Context(), operations.Operator, acc.ID, r.PathValue("member_id"), p)
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
	if _, err := s.Ops.MemberDelete(r.Context(), operations.Operator, acc.ID, id); err != nil {
		return err
	}
	writeData(w, http.StatusOK, map[string]any{"member_id": id, "deleted": true})
	return nil
}
