package api

import (
	"encoding/json"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// registerOperator registers the operator's routes: accounts, API keys,
// members, the event-type catalog and credit alerts. Only operator keys
// may use them; they name the account in the path, never with ?account_id=.
func (s *Server) registerOperator() {
	op := scopeOperator
	s.handle("POST /v1/accounts", op, s.createAccount)
	s.handle("GET /v1/accounts", op, s.listAccounts)
	s.handle("GET /v1/accounts/{account_id}", op, s.getAccount)

	s.handle("POST /v1/accounts/{account_id}/api-keys", op, s.createAPIKey)
	s.handle("GET /v1/accounts/{account_id}/api-keys", op, s.listAPIKeys)
	s.handle("DELETE /v1/accounts/{account_id}/api-keys/{api_key_id}", op, s.revokeAPIKey)

	s.handle("POST /v1/accounts/{account_id}/members", op, s.createMember)
	s.handle("GET /v1/accounts/{account_id}/members", op, s.listMembers)
	s.handle("PATCH /v1/accounts/{account_id}/members/{member_id}", op, s.updateMember)
	s.handle("DELETE /v1/accounts/{account_id}/members/{member_id}", op, s.deleteMember)

	s.handle("POST /v1/event-types", op, s.createEventType)
	s.handle("PATCH /v1/event-types/{name}", op, s.updateEventType)

	s.handle("PUT /v1/accounts/{account_id}/credit-alerts", op, s.setCreditAlerts)
	s.handle("POST /v1/accounts/{account_id}/balance", op, s.reportBalance)
}

// Bodies of the operator's routes are small.
const operatorBodyBytes = 64 << 10

var (
	accountShape      = shape{"name": nil}
	apiKeyShape       = shape{"name": nil, "scopes": nil}
	memberShape       = shape{"email": nil, "role": nil, "password": nil}
	eventTypeShape    = shape{"name": nil, "description": nil, "example": nil, "deprecated": nil}
	eventTypePatch    = shape{"description": nil, "example": nil, "deprecated": nil}
	creditAlertsShape = shape{"thresholds": nil}
	balanceShape      = shape{"balance": nil}
)

// field is a member of a PATCH body: absent, null, or a value. PATCH tells
// "leave it" (absent) from "clear it" (null) from a new value.
type field[T any] struct {
	Set  bool
	Null bool
	V    T
}

func (f *field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	if string(b) == "null" {
		f.Null = true
		return nil
	}
	return json.Unmarshal(b, &f.V)
}

// pathAccount returns the account named in the path, 404 when unknown.
func (s *Server) pathAccount(r *http.Request) (webhook.Account, error) {
	return s.Ops.Account(r.Context(), r.PathValue("account_id"))
}

type accountView struct {
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
}

func toAccountView(a webhook.Account) accountView {
	return accountView{AccountID: a.ID, Name: a.Name, CreatedAt: apiTime(a.CreatedAt)}
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Name *string `json:"name"`
	}
	if err := decode(w, r, operatorBodyBytes, accountShape, &req); err != nil {
		return err
	}
	a, err := s.Ops.AccountCreate(r.Context(), req.Name)
	if err != nil {
		return err
	}
	writeData(w, http.StatusCreated, toAccountView(a))
	return nil
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request, c caller) error {
	l, aerr := s.listParams(r, "")
	if aerr != nil {
		return aerr
	}
	page, err := s.Ops.AccountList(r.Context(), r.URL.Query().Get("search"), l.after, l.limit)
	if err != nil {
		return err
	}
	writePage(w, l, page, toAccountView)
	return nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, c caller) error {
	a, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, toAccountView(a))
	return nil
}

type apiKeyView struct {
	APIKeyID  string   `json:"api_key_id"`
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	KeyPrefix string   `json:"key_prefix"`
	CreatedAt string   `json:"created_at"`
	RevokedAt *string  `json:"revoked_at"`
}

// createdAPIKey is the creation answer: the key, shown this once, and
// nothing about revocation yet.
type createdAPIKey struct {
	APIKeyID  string   `json:"api_key_id"`
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	KeyPrefix string   `json:"key_prefix"`
	Key       string   `json:"key"`
	CreatedAt string   `json:"created_at"`
}

func toAPIKeyView(k webhook.APIKey) apiKeyView {
	return apiKeyView{APIKeyID: k.ID, Name: k.Name, Scopes: k.Scopes, KeyPrefix: k.Prefix,
		CreatedAt: apiTime(k.CreatedAt), RevokedAt: apiTimePtr(k.RevokedAt)}
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Name   *string  `json:"name"`
		Scopes []string `json:"scopes"`
	}
	acc, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	if err := decode(w, r, operatorBodyBytes, apiKeyShape, &req); err != nil {
		return err
	}
	k, err := s.Ops.APIKeyCreate(r.Context(), operations.Operator, acc.ID, req.Name, req.Scopes)
	if err != nil {
		return err
	}
	writeData(w, http.StatusCreated, createdAPIKey{APIKeyID: k.ID, Name: k.Name, Scopes: k.Scopes, KeyPrefix: k.Prefix,
		Key: k.Key, CreatedAt: apiTime(k.CreatedAt)})
	return nil
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request, c caller) error {
	acc, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	l, aerr := s.listParams(r, acc.ID)
	if aerr != nil {
		return aerr
	}
	page, err := s.Ops.APIKeyList(r.Context(), acc.ID, l.after, l.limit)
	if err != nil {
		return err
	}
	writePage(w, l, page, toAPIKeyView)
	return nil
}

// revokeAPIKey revokes at once: every request looks its key up, so the
// next one with it is refused on every node. Revoking again is harmless
// and keeps the first revocation time.
func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request, c caller) error {
	acc, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	k, err := s.Ops.APIKeyRevoke(r.Context(), operations.Operator, acc.ID, r.PathValue("api_key_id"))
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, toAPIKeyView(k))
	return nil
}
