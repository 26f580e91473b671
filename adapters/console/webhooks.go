package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// deliveriesPerPage is how many deliveries an endpoint's page lists
// before its "Older" link.
const deliveriesPerPage = 50

// webhooksDenied is what a member whose role may not see webhooks reads
// instead of the list: endpoints and their logs are for admins and owners.
const webhooksDenied = "Only the workspace's admins and owners can see and manage its webhooks."

// deliveryStatuses are the delivery log's filter.
var deliveryStatuses = []string{"pending", "sent", "failed", "dead"}

// webhooksRoutes registers the webhooks pages: the list and its create
// form, an endpoint's page with its actions and deliveries, and a
// delivery's page with its attempts.
func (c *Console) webhooksRoutes(mux *http.ServeMux) {
	base := "/console/workspaces/{ws}/webhooks"
	mux.HandleFunc("GET "+base, c.webhooks)
	mux.HandleFunc("POST "+base, c.createWebhook)
	mux.HandleFunc("GET "+base+"/{hook}", c.webhook)
	mux.HandleFunc("POST "+base+"/{hook}", c.updateWebhook)
	mux.HandleFunc("POST "+base+"/{hook}/test", c.testWebhook)
	mux.HandleFunc("POST "+base+"/{hook}/rotate", c.rotateWebhookSecret)
	mux.HandleFunc("POST "+base+"/{hook}/delete", c.deleteWebhook)
	mux.HandleFunc("GET "+base+"/{hook}/deliveries/{dlv}", c.delivery)
	mux.HandleFunc("POST "+base+"/{hook}/deliveries/{dlv}/redeliver", c.redeliver)
}

// eventChoice is one checkbox of an endpoint's events.
type eventChoice struct {
	ID, Value, Label string
	Checked          bool
}

// eventChoices are the checkboxes for an endpoint subscribed to chosen:
// "*" first, then every type the change feed carries.
func eventChoices(chosen []string) []eventChoice {
	out := []eventChoice{{ID: "ev-all", Value: domain.WebhookSubscribeAll, Label: "All events (*), those added later too", Checked: slices.Contains(chosen, domain.WebhookSubscribeAll)}}
	for _, e := range domain.EventTypes {
		out = append(out, eventChoice{ID: "ev-" + strings.NewReplacer(".", "-", "_", "-").Replace(e), Value: e, Label: e, Checked: slices.Contains(chosen, e)})
	}
	return out
}

// hookView is an endpoint as the pages show it: State says whether it is
// enabled and, if not, why.
type hookView struct {
	Hook  domain.Webhook
	State string
}

func toHookView(h domain.Webhook) hookView {
	v := hookView{Hook: h, State: "enabled"}
	switch {
	case h.Enabled():
	case h.DisabledReason() == domain.WebhookDisabledGone:
		v.State = "disabled: the receiver answered 410 Gone"
	case h.DisabledReason() == domain.WebhookDisabledFailing:
		v.State = "disabled: every attempt failed for too long"
	default:
		v.State = "disabled by a user"
	}
	return v
}

// webhooksData is what the webhooks list shows; the create form, for
// those who may use it, keeps its input when it is refused.
type webhooksData struct {
	Hooks       []hookView
	Older       string
	CanWrite    bool
	Events      []eventChoice
	URL         string
	Description string
}

// webhooks lists a workspace's endpoints, newest first, with the form
// that creates one.
func (c *Console) webhooks(w http.ResponseWriter, r *http.Request) {
	c.renderWebhooks(w, r, http.StatusOK, "", webhooksData{Events: eventChoices(nil)})
}

// renderWebhooks renders the list with d's form input and, when the form
// was refused, its error.
func (c *Console) renderWebhooks(w http.ResponseWriter, r *http.Request, status int, formErr string, d webhooksData) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	ref := r.PathValue("ws")
	hooks, next, err := c.cfg.Messaging.ListWebhooks(r.Context(), p, ref, ports.Page{After: r.URL.Query().Get("after"), Limit: ports.DefaultPageLimit})
	if errors.Is(err, domain.ErrForbidden) {
		c.sectionDenied(w, r, ws, "webhooks", "Webhooks", webhooksDenied)
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, h := range hooks {
		d.Hooks = append(d.Hooks, toHookView(h))
	}
	d.Older = nextPage(Prefix+"workspaces/"+url.PathEscape(ref)+"/webhooks", next)
	if d.CanWrite, err = c.may(r, p, ws, domain.PermWebhooksWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "webhooks", page{Title: "Webhooks · " + ws.Name(), Signed: true, Workspace: &ws, Section: "webhooks", Error: formErr, Data: d})
}

// webhookSecretData is the page that shows a signing secret, once: after an
// endpoint is created, or after a rotation, with when the previous secret
// stops signing.
type webhookSecretData struct {
	Hook              domain.Webhook
	Secret            string
	Created           bool
	PreviousExpiresAt time.Time
}

// formRefusal is the text a refused form shows: the use case's message and
// each field's. Anything else is not the form's fault, and "" says so.
func formRefusal(err error) string {
	if !refused(err) {
		return ""
	}
	lines, _ := refusal(err)
	return strings.Join(lines, " ")
}

// createWebhook adds an endpoint through the use case POST /v1/…/webhooks
// calls and shows its signing secret, the only time it is shown: the page
// is the answer to the POST, so the secret is in no URL and no history
// entry a reload could show again without creating another endpoint.
func (c *Console) createWebhook(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 16<<10)
	if !ok {
		return
	}
	in := domain.WebhookInput{URL: strings.TrimSpace(r.PostFormValue("url")), Events: r.PostForm["events"], Description: strings.TrimSpace(r.PostFormValue("description"))}
	created, err := c.cfg.Messaging.CreateWebhook(r.Context(), p, r.PathValue("ws"), in)
	if err != nil {
		if msg := formRefusal(err); msg != "" {
			c.renderWebhooks(w, r, http.StatusUnprocessableEntity, msg, webhooksData{Events: eventChoices(in.Events), URL: in.URL, Description: in.Description})
			return
		}
		c.fail(w, r, err)
		return
	}
	c.showWebhookSecret(w, r, webhookSecretData{Hook: created.Webhook, Secret: created.Secret, Created: true})
}

func (c *Console) showWebhookSecret(w http.ResponseWriter, r *http.Request, d webhookSecretData) {
	_, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "webhook_secret", page{Title: "Signing secret · " + ws.Name(), Signed: true, Workspace: &ws, Section: "webhooks", Data: d})
}

// deliveryRow is a row of an endpoint's delivery log.
type deliveryRow struct {
	D         domain.WebhookDelivery
	LastCode  int
	LastError string
}

// webhookData is what an endpoint's page shows: the endpoint, its edit
// form and actions for those who may use them, and its deliveries,
// filtered by status, a page at a time.
type webhookData struct {
	hookView
	Form       webhookForm
	Events     []eventChoice
	CanWrite   bool
	Deliveries []deliveryRow
	Status     string
	Statuses   []string
	Older      string
}

// webhookForm is what the edit form holds: the saved endpoint's values,
// or, after a refused save, what was typed, so that nothing typed is lost.
type webhookForm struct {
	URL, Description string
	Events           []string
	Enabled          bool
}

// webhook shows one endpoint and its delivery log.
func (c *Console) webhook(w http.ResponseWriter, r *http.Request) {
	c.renderWebhook(w, r, http.StatusOK, "", nil)
}

// webhookOf authenticates the request and reads the workspace and the
// endpoint in its path; false after the page that says why.
func (c *Console) webhookOf(w http.ResponseWriter, r *http.Request) (domain.Principal, domain.Workspace, domain.Webhook, bool) {
	p, ws, ok := c.workspaceOf(w, r)
	if !ok {
		return p, ws, domain.Webhook{}, false
	}
	hook, err := c.cfg.Messaging.GetWebhook(r.Context(), p, r.PathValue("ws"), domain.WebhookID(r.PathValue("hook")))
	if err != nil {
		c.fail(w, r, err)
		return p, ws, hook, false
	}
	return p, ws, hook, true
}

// renderWebhook renders an endpoint's page; its edit form holds typed
// when a save was refused (with formErr), and the saved values otherwise.
func (c *Console) renderWebhook(w http.ResponseWriter, r *http.Request, status int, formErr string, typed *webhookForm) {
	p, ws, hook, ok := c.webhookOf(w, r)
	if !ok {
		return
	}
	ref, id := r.PathValue("ws"), domain.WebhookID(r.PathValue("hook"))
	q := r.URL.Query()
	form := webhookForm{URL: hook.URL(), Description: hook.Description(), Events: hook.Events(), Enabled: hook.Enabled()}
	if typed != nil {
		form = *typed
	}
	d := webhookData{hookView: toHookView(hook), Form: form, Events: eventChoices(form.Events), Status: q.Get("status"), Statuses: deliveryStatuses}
	ds, next, err := c.cfg.Messaging.ListDeliveries(r.Context(), p, ref, id, d.Status, ports.Page{After: q.Get("after"), Limit: deliveriesPerPage})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, dl := range ds {
		row := deliveryRow{D: dl}
		if n := len(dl.Attempts); n > 0 {
			row.LastCode, row.LastError = dl.Attempts[n-1].StatusCode, domain.TruncateRunes(dl.Attempts[n-1].Error, untrustedRunes)
		}
		d.Deliveries = append(d.Deliveries, row)
	}
	d.Older = nextPage(hookPath(ref, id), next, "status", d.Status)
	if d.CanWrite, err = c.may(r, p, ws, domain.PermWebhooksWrite); err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, status, "webhook", page{Title: "Webhook · " + ws.Name(), Signed: true, Workspace: &ws, Section: "webhooks", Error: formErr, Data: d})
}

func hookPath(ref string, id domain.WebhookID) string {
	return Prefix + "workspaces/" + url.PathEscape(ref) + "/webhooks/" + url.PathEscape(string(id))
}

// updateWebhook saves the edit form through the use case PATCH
// /v1/…/webhooks/{id} calls. The form always carries every field, so an
// unchecked "enabled" box disables the endpoint.
func (c *Console) updateWebhook(w http.ResponseWriter, r *http.Request) {
	p, ok := c.postForm(w, r, 16<<10)
	if !ok {
		return
	}
	u, desc := strings.TrimSpace(r.PostFormValue("url")), strings.TrimSpace(r.PostFormValue("description"))
	events, enabled := r.PostForm["events"], r.PostFormValue("enabled") == "true"
	ref, id := r.PathValue("ws"), domain.WebhookID(r.PathValue("hook"))
	_, err := c.cfg.Messaging.UpdateWebhook(r.Context(), p, ref, id, domain.WebhookPatch{URL: &u, Events: &events, Description: &desc, Enabled: &enabled})
	if err != nil {
		if msg := formRefusal(err); msg != "" {
			c.renderWebhook(w, r, http.StatusUnprocessableEntity, msg, &webhookForm{URL: u, Description: desc, Events: events, Enabled: enabled})
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, hookPath(ref, id), http.StatusSeeOther)
}

// testWebhook sends the endpoint a webhook.test event through the use
// case POST /v1/…/webhooks/{id}/test calls, and goes back to its page,
// whose delivery log lists the test first.
func (c *Console) testWebhook(w http.ResponseWriter, r *http.Request) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ref, id := r.PathValue("ws"), domain.WebhookID(r.PathValue("hook"))
	if _, err := c.cfg.Messaging.TestWebhook(r.Context(), p, ref, id); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, hookPath(ref, id)+"#deliveries", http.StatusSeeOther)
}

// rotateWebhookSecret gives the endpoint a new secret through the use
// case POST /v1/…/webhooks/{id}/rotate calls and shows it once,
// with when the previous one stops signing.
func (c *Console) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rot, err := c.cfg.Messaging.RotateWebhookSecret(r.Context(), p, r.PathValue("ws"), domain.WebhookID(r.PathValue("hook")))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.showWebhookSecret(w, r, webhookSecretData{Hook: rot.Webhook, Secret: rot.Secret, PreviousExpiresAt: rot.PreviousExpiresAt})
}

// deleteWebhook removes the endpoint and its log through the use case
// DELETE /v1/…/webhooks/{id} calls, and goes back to the list.
func (c *Console) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ref := r.PathValue("ws")
	if err := c.cfg.Messaging.DeleteWebhook(r.Context(), p, ref, domain.WebhookID(r.PathValue("hook"))); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"workspaces/"+url.PathEscape(ref)+"/webhooks", http.StatusSeeOther)
}

// deliveryData is what a delivery's page shows: the delivery, its
// attempts newest first, and whether the Redeliver button is shown (to
// those who may use it, for a delivery that ended, of an enabled
// endpoint: the use case refuses the others).
type deliveryData struct {
	hookView
	D            domain.WebhookDelivery
	Attempts     []attemptView
	CanRedeliver bool
}

// attemptView is one attempt of a delivery's log, with its latency
// rounded to what a person reads.
type attemptView struct {
	domain.DeliveryAttempt
	Took string
}

func toAttemptView(a domain.DeliveryAttempt) attemptView {
	took := a.Latency.Round(time.Millisecond).String()
	if a.Latency < time.Millisecond {
		took = "under 1ms"
	}
	return attemptView{DeliveryAttempt: a, Took: took}
}

// delivery shows one delivery's attempt log. What a receiver answered is
// untrusted: html/template escapes it, and the domain keeps at most
// domain.MaxDeliveryBodyLog bytes of it.
func (c *Console) delivery(w http.ResponseWriter, r *http.Request) {
	p, ws, hook, ok := c.webhookOf(w, r)
	if !ok {
		return
	}
	ref, id := r.PathValue("ws"), domain.WebhookID(r.PathValue("hook"))
	dl, err := c.cfg.Messaging.GetDelivery(r.Context(), p, ref, id, domain.DeliveryID(r.PathValue("dlv")))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := deliveryData{hookView: toHookView(hook), D: dl}
	for _, a := range slices.Backward(dl.Attempts) {
		d.Attempts = append(d.Attempts, toAttemptView(a))
	}
	if dl.Status != domain.OutboxPending && hook.Enabled() {
		if d.CanRedeliver, err = c.may(r, p, ws, domain.PermWebhooksWrite); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	c.render(w, r, http.StatusOK, "webhook_delivery", page{Title: "Delivery · " + ws.Name(), Signed: true, Workspace: &ws, Section: "webhooks", Data: d})
}

// redeliver queues the delivery again through the use case POST
// /v1/…/deliveries/{id}/redeliver calls, and goes back to its page.
func (c *Console) redeliver(w http.ResponseWriter, r *http.Request) {
	p, err := c.principal(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ref, id, did := r.PathValue("ws"), domain.WebhookID(r.PathValue("hook")), domain.DeliveryID(r.PathValue("dlv"))
	if _, err := c.cfg.Messaging.Redeliver(r.Context(), p, ref, id, did); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, hookPath(ref, id)+"/deliveries/"+url.PathEscape(string(did)), http.StatusSeeOther)
}
