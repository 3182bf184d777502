package dashboard

import (
	"net/http"
	"strings"

	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

type accountData struct {
	layout
	Members    []webhook.Member
	Keys       []webhook.APIKey
	Scopes     []string
	NewKey     *operations.NewAPIKey
	Notice     string
	Error      string
	MemberForm memberForm
	KeyName    string
	Primary    bool // the signed-in member is the primary owner
}

type memberForm struct{ Email, Role string }

var accountNotices = map[string]string{
	"added":   "Member added. Give them their email and password; they can sign in now.",
	"role":    "Role changed.",
	"removed": "Member removed; their sessions ended.",
	"revoked": "API key revoked. Requests with it are refused from now on.",
}

func (d *Dashboard) accountPage(q *request) error {
	return d.renderAccount(q, http.StatusOK, accountData{Notice: accountNotices[q.r.URL.Query().Get("done")]})
}

func (d *Dashboard) renderAccount(q *request, status int, data accountData) error {
	members, err := d.Ops.MemberList(q.ctx(), q.account.ID, "", 250)
	if err != nil {
		return err
	}
	keys, err := d.Ops.APIKeyList(q.ctx(), q.account.ID, "", 250)
	if err != nil {
		return err
	}
	data.Members, data.Keys, data.Scopes = members.Items, keys.Items, auth.Scopes
	data.Primary = q.member.Role == webhook.RolePrimaryOwner
	data.layout = d.layout(q, "account")
	data.Title = "Account"
	d.render(q.w, status, "account", data)
	return nil
}

// accountRefused shows the account page again with a refusal, or passes
// on any other error.
func (d *Dashboard) accountRefused(q *request, err error, data accountData) error {
	msg, status, ok := shownAgain(err)
	if !ok {
		return err
	}
	data.Error = msg
	return d.renderAccount(q, status, data)
}

func (d *Dashboard) accountDone(q *request, outcome string) error {
	http.Redirect(q.w, q.r, "/account?done="+outcome, http.StatusSeeOther)
	return nil
}

func (d *Dashboard) addMember(q *request) error {
	f := q.r.PostForm
	form := memberForm{Email: strings.TrimSpace(f.Get("email")), Role: f.Get("role")}
	password := f.Get("password")
	_, err := d.Ops.MemberCreate(q.ctx(), q.actor(), q.account.ID, operations.MemberInput{Email: &form.Email, Role: &form.Role, Password: &password})
	if err != nil {
		return d.accountRefused(q, err, accountData{MemberForm: form})
	}
	return d.accountDone(q, "added")
}

func (d *Dashboard) changeRole(q *request) error {
	role := q.r.PostFormValue("role")
	if _, err := d.Ops.MemberUpdate(q.ctx(), q.actor(), q.account.ID, q.r.PathValue("mid"), operations.MemberPatch{Role: &role}); err != nil {
		return d.accountRefused(q, err, accountData{})
	}
	return d.accountDone(q, "role")
}

func (d *Dashboard) removeMember(q *request) error {
	if _, err := d.Ops.MemberDelete(q.ctx(), q.actor(), q.account.ID, q.r.PathValue("mid")); err != nil {
		return d.accountRefused(q, err, accountData{})
	}
	return d.accountDone(q, "removed")
}

func (d *Dashboard) createKey(q *request) error {
	name := strings.TrimSpace(q.r.PostFormValue("name"))
	k, err := d.Ops.APIKeyCreate(q.ctx(), q.actor(), q.account.ID, &name, q.r.PostForm["scopes"])
	if err != nil {
		return d.accountRefused(q, err, accountData{KeyName: name})
	}
	// The key is shown in this answer only.
	return d.renderAccount(q, http.StatusCreated, accountData{NewKey: &k})
}

func (d *Dashboard) revokeKey(q *request) error {
	if _, err := d.Ops.APIKeyRevoke(q.ctx(), q.actor(), q.account.ID, q.r.PathValue("kid")); err != nil {
		return d.accountRefused(q, err, accountData{})
	}
	return d.accountDone(q, "revoked")
}
