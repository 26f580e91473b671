package console

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// keysRoutes registers the API keys page and the forms that create,
// rotate and revoke keys.
func (c *Console) keysRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/workspaces/{ws}/keys", c.keysPage)
	mux.HandleFunc("POST /console/workspaces/{ws}/keys", c.createKey)
	mux.HandleFunc("POST /console/workspaces/{ws}/keys/{key}/rotate", c.rotateKey)
	mux.HandleFunc("POST /console/workspaces/{ws}/keys/{key}/revoke", c.revokeKey)
}

// keyGraces are the grace periods a rotation offers, as the API spells
// them: how long the replaced secret keeps working. The first is the
// default, the API's too.
var keyGraces = []struct{ Value, Label string }{
	{"24h", "24 hours"},
	{"1h", "1 hour"},
	{"168h", "7 days"},
	{"0s", "No time: it stops now"},
}

// keyRow is a row of the keys table.
type keyRow struct {
	domain.APIKey
	ScopeList string
	State     string // active, expired or revoked
}

// keysData is what the keys page shows. Forbidden is set for a member
// whose role may not see keys, who gets the page with only that said;
// CanWrite says whether the viewer may create, rotate and revoke. Name,
// Scopes, Expires and Error keep a refused creation's input and say why.
type keysData struct {
	Forbidden bool
	Keys      []keyRow
	More      string
	CanWrite  bool
	Scopes    []string
	Graces    []struct{ Value, Label string }
	Notice    string
	Name      string
	Checked   map[string]bool
	Expires   string
	Error     string
}

// keySecretData is the page that shows a secret, once: after a key's
// creation, or after its rotation, with the time the replaced secret
// stops working.
type keySecretData struct {
	Key           domain.APIKey
	Secret        string
	Rotated       bool
	PreviousUntil *time.Time
}

// keysPage lists a workspace's keys, revoked ones included and never
// their secrets (admins and owners), with the forms the viewer may use.
func (c *Console) keysPage(w http.ResponseWriter, r *http.Request) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	d := keysData{Checked: map[string]bool{}}
	if r.URL.Query().Get("done") == "revoked" {
		d.Notice = "The key was revoked: it stops working within a second."
	}
	c.renderKeys(w, r, http.StatusOK, p, ws, d)
}

// renderKeys reads the keys into d and renders the page with status. A
// member whose role may not read keys gets a 403 page that says so, with
// the workspace's navigation, rather than a 404: they see the workspace,
// and its navigation links here.
func (c *Console) renderKeys(w http.ResponseWriter, r *http.Request, status int, p domain.Principal, ws domain.Workspace, d keysData) {
	ref := r.PathValue("ws")
	pg := page{Title: "API keys · " + ws.Name(), Signed: true, Workspace: &ws, Section: "keys"}
	keys, next, err := c.cfg.Identity.ListAPIKeys(r.Context(), p, ref, ports.Page{After: r.URL.Query().Get("after"), Limit: ports.MaxPageLimit})
	if errors.Is(err, domain.ErrForbidden) {
		pg.Data = keysData{Forbidden: true}
		c.render(w, r, http.StatusForbidden, "keys", pg)
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if d.CanWrite, err = c.may(r, p, ws, domain.PermAPIKeysWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	now := time.Now()
	for _, k := range keys {
		row := keyRow{APIKey: k, ScopeList: scopeNames(k.Scopes()), State: "active"}
		switch {
		case k.Revoked():
			row.State = "revoked"
		case !k.Usable(now):
			row.State = "expired"
		}
		d.Keys = append(d.Keys, row)
	}
	d.More = nextPage(Prefix+"workspaces/"+url.PathEscape(ref)+"/keys", next)
	for _, s := range domain.Scopes {
		d.Scopes = append(d.Scopes, s.String())
	}
	d.Graces = keyGraces
	pg.Data = d
	c.render(w, r, status, "keys", pg)
}

func scopeNames(ps []domain.Permission) string {
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.String()
	}
	return strings.Join(ss, " ")
}

// createKey makes a key through the use case POST /v1/…/api-keys calls
// and answers the page that shows its secret, this once: the answer to a
// POST, never a page a link or a reload of the list can bring back. An
// optional expiry date makes the key stop at the end of that day, UTC.
// Input the use case refuses shows the list again with the reason.
func (c *Console) createKey(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return
	}
	ref := r.PathValue("ws")
	in := identity.CreateAPIKeyInput{Workspace: ref, Name: r.PostFormValue("name"), Scopes: r.PostForm["scope"]}
	expires := strings.TrimSpace(r.PostFormValue("expires"))
	var err error
	if expires != "" {
		day, perr := time.Parse(time.DateOnly, expires)
		if perr != nil {
			err = domain.Invalid(domain.FieldError{Field: "expires_at", Code: "invalid_date", Message: "Give the expiry as a date, such as 2027-01-31."})
		} else {
			end := day.AddDate(0, 0, 1)
			in.ExpiresAt = &end
		}
	}
	var created identity.CreatedAPIKey
	if err == nil {
		created, err = c.cfg.Identity.CreateAPIKey(r.Context(), p, in)
	}
	var de *domain.Error
	if err != nil && errors.As(err, &de) && de.Kind == domain.KindInvalid {
		// Only a member allowed to create keys learns why the input was
		// refused; anyone else gets the 404 the use case decided.
		ws, werr := c.cfg.Identity.GetWorkspace(r.Context(), p, ref)
		if werr != nil {
			c.fail(w, r, werr)
			return
		}
		if may, werr := c.may(r, p, ws, domain.PermAPIKeysWrite); werr != nil || !may {
			c.fail(w, r, cmp.Or[error](werr, domain.ErrForbidden))
			return
		}
		d := keysData{Name: in.Name, Expires: expires, Checked: map[string]bool{}, Error: reason(de)}
		for _, s := range in.Scopes {
			d.Checked[s] = true
		}
		c.renderKeys(w, r, http.StatusUnprocessableEntity, p, ws, d)
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.showSecret(w, r, p, keySecretData{Key: created.Key, Secret: created.Secret})
}

// rotateKey gives a key a new secret through the use case POST
// /v1/…/api-keys/{key}/rotate calls and shows it, this once. The old
// secret keeps working for the grace period chosen in the form.
func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return
	}
	in := identity.RotateAPIKeyInput{Workspace: r.PathValue("ws"), ID: domain.APIKeyID(r.PathValue("key"))}
	if g := r.PostFormValue("grace"); g != "" {
		in.GracePeriod = &g
	}
	rotated, err := c.cfg.Identity.RotateAPIKey(r.Context(), p, in)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.showSecret(w, r, p, keySecretData{Key: rotated.Key, Secret: rotated.Secret, Rotated: true, PreviousUntil: rotated.Key.PreviousUntil()})
}

// showSecret renders the page with a new secret. render sends it with
// Cache-Control: no-store, so the browser keeps no copy to show again.
func (c *Console) showSecret(w http.ResponseWriter, r *http.Request, p domain.Principal, d keySecretData) {
	ws, err := c.cfg.Identity.GetWorkspace(r.Context(), p, r.PathValue("ws"))
	if err != nil {
		// The key exists and its secret is lost with this page: say so
		// rather than show a bare error.
		c.cfg.Logger.ErrorContext(r.Context(), "console: workspace unreadable after a key's secret was made", "key", d.Key.ID(), "err", err)
		c.render(w, r, http.StatusInternalServerError, "error", page{Title: "Error", Signed: true, Message: "The key " + d.Key.Name() + " has a new secret, but Keel could not show it. Rotate the key to get another."})
		return
	}
	c.render(w, r, http.StatusOK, "keysecret", page{Title: "New secret · " + d.Key.Name(), Signed: true, Workspace: &ws, Section: "keys", Data: d})
}

// revokeKey revokes a key through the use case DELETE /v1/…/api-keys/{key}
// calls.
func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 4<<10)
	if !ok {
		return
	}
	ref := r.PathValue("ws")
	if err := c.cfg.Identity.RevokeAPIKey(r.Context(), p, ref, domain.APIKeyID(r.PathValue("key"))); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"workspaces/"+url.PathEscape(ref)+"/keys?done=revoked", http.StatusSeeOther)
}
