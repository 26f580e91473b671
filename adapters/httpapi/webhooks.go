package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// webhookRoutes manages a workspace's webhook endpoints and shows their
// delivery logs.
type webhookRoutes struct{ msgs *messaging.Service }

func (h webhookRoutes) register(v1 *gin.RouterGroup) {
	v1.POST("/workspaces/:ws/webhooks", h.create)
	v1.GET("/workspaces/:ws/webhooks", h.list)
	v1.GET("/workspaces/:ws/webhooks/:webhook", h.get)
	v1.PATCH("/workspaces/:ws/webhooks/:webhook", h.update)
	v1.DELETE("/workspaces/:ws/webhooks/:webhook", h.delete)
	v1.POST("/workspaces/:ws/webhooks/:webhook/test", h.test)
	v1.POST("/workspaces/:ws/webhooks/:webhook/rotate", h.rotateSecret)
	v1.POST("/workspaces/:ws/webhooks/:webhook/rotate-secret", h.rotateSecret) // deprecated: see deprecation.go
	v1.GET("/workspaces/:ws/webhooks/:webhook/deliveries", h.listDeliveries)
	v1.GET("/workspaces/:ws/webhooks/:webhook/deliveries/:delivery", h.getDelivery)
	v1.POST("/workspaces/:ws/webhooks/:webhook/deliveries/:delivery/redeliver", h.redeliver)
}

// --- DTOs.

// webhookRequest creates an endpoint; enabled defaults to true.
type webhookRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	Enabled     *bool    `json:"enabled"`
}

// webhookPatch changes the members that are present. null resets a
// member to its zero value, as in formPatch: description to "", enabled to
// its default, true; a null url or events is refused as missing (422).
type webhookPatch struct {
	URL         optional[string]   `json:"url"`
	Events      optional[[]string] `json:"events"`
	Description optional[string]   `json:"description"`
	Enabled     optional[bool]     `json:"enabled"`
}

func (p webhookPatch) toPatch() domain.WebhookPatch {
	var out domain.WebhookPatch
	if p.URL.Set {
		out.URL = &p.URL.V
	}
	if p.Events.Set {
		out.Events = &p.Events.V
	}
	if p.Description.Set {
		out.Description = &p.Description.V
	}
	if p.Enabled.Set {
		on := p.Enabled.V || p.Enabled.Null
		out.Enabled = &on
	}
	return out
}

// webhookResponse is an endpoint without its secrets. disabled_reason is
// null while it is enabled, else manual, gone (the receiver answered 410)
// or failing; failing_since is the first failed attempt since the last
// success, null while the endpoint is not failing.
type webhookResponse struct {
	ID             string        `json:"id"`
	URL            string        `json:"url"`
	Events         []string      `json:"events"`
	Description    string        `json:"description"`
	Enabled        bool          `json:"enabled"`
	DisabledReason *string       `json:"disabled_reason"`
	FailingSince   *domain.Stamp `json:"failing_since"`
	CreatedAt      domain.Stamp  `json:"created_at"`
	UpdatedAt      domain.Stamp  `json:"updated_at"`
}

func toWebhookResponse(w domain.Webhook) webhookResponse {
	r := webhookResponse{
		ID: string(w.ID()), URL: w.URL(), Events: nonNil(w.Events()), Description: w.Description(), Enabled: w.Enabled(),
		FailingSince: domain.StampOf(w.FailingSince()), CreatedAt: domain.Stamp{Time: w.CreatedAt()}, UpdatedAt: domain.Stamp{Time: w.UpdatedAt()},
	}
	if reason := w.DisabledReason(); reason != "" {
		r.DisabledReason = &reason
	}
	return r
}

// createdWebhookResponse is the one answer, with rotateSecretResponse,
// that shows a secret.
type createdWebhookResponse struct {
	webhookResponse
	Secret string `json:"secret"`
}

type rotateSecretResponse struct {
	webhookResponse
	Secret                  string       `json:"secret"`
	PreviousSecretExpiresAt domain.Stamp `json:"previous_secret_expires_at"`
}

// deliveryAttemptResponse is one attempt. status_code is null when no
// response came (a refused address, a timeout, a network error); error is
// null for a 2xx; response_body is the start of the receiver's answer.
type deliveryAttemptResponse struct {
	At           domain.Stamp `json:"at"`
	StatusCode   *int         `json:"status_code"`
	LatencyMS    float64      `json:"latency_ms"`
	Error        *string      `json:"error"`
	ResponseBody string       `json:"response_body"`
}

// deliveryResponse is one event's delivery to one endpoint. attempts holds
// the latest domain.MaxDeliveryAttemptsKept attempts; attempt_count counts
// them all.
type deliveryResponse struct {
	ID           string                    `json:"id"`
	WebhookID    string                    `json:"webhook_id"`
	EventID      string                    `json:"event_id"`
	EventType    string                    `json:"event_type"`
	Status       string                    `json:"status"`
	AttemptCount int                       `json:"attempt_count"`
	Attempts     []deliveryAttemptResponse `json:"attempts"`
	// NextAttemptAt is when a pending delivery is due; null otherwise.
	NextAttemptAt *domain.Stamp `json:"next_attempt_at"`
	CreatedAt     domain.Stamp  `json:"created_at"`
	DeliveredAt   *domain.Stamp `json:"delivered_at"`
}

func toDeliveryResponse(d domain.WebhookDelivery) deliveryResponse {
	r := deliveryResponse{
		ID: string(d.ID), WebhookID: string(d.Webhook), EventID: string(d.Event), EventType: d.EventType, Status: d.Status.String(),
		AttemptCount: d.AttemptCount, Attempts: make([]deliveryAttemptResponse, 0, len(d.Attempts)), CreatedAt: domain.Stamp{Time: d.CreatedAt}, DeliveredAt: domain.StampOf(d.DeliveredAt),
	}
	for _, a := range d.Attempts {
		ar := deliveryAttemptResponse{At: domain.Stamp{Time: a.At}, LatencyMS: float64(a.Latency.Microseconds()) / 1000, ResponseBody: a.Body}
		if a.StatusCode != 0 {
			code := a.StatusCode
			ar.StatusCode = &code
		}
		if a.Error != "" {
			e := a.Error
			ar.Error = &e
		}
		r.Attempts = append(r.Attempts, ar)
	}
	if d.Status == domain.OutboxPending {
		r.NextAttemptAt = &domain.Stamp{Time: d.NextAttemptAt}
	}
	return r
}

// --- Handlers.

func (h webhookRoutes) create(c *gin.Context) {
	var req webhookRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	out, err := h.msgs.CreateWebhook(c.Request.Context(), principal(c), c.Param("ws"), domain.WebhookInput{
		URL: req.URL, Events: req.Events, Description: req.Description, Enabled: req.Enabled,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", c.Request.URL.Path+"/"+string(out.Webhook.ID()))
	c.JSON(http.StatusCreated, createdWebhookResponse{toWebhookResponse(out.Webhook), out.Secret})
}

func (h webhookRoutes) list(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]domain.Webhook, string, error) {
		return h.msgs.ListWebhooks(c.Request.Context(), principal(c), c.Param("ws"), page)
	}, toWebhookResponse)
}

func (h webhookRoutes) get(c *gin.Context) {
	w, err := h.msgs.GetWebhook(c.Request.Context(), principal(c), c.Param("ws"), domain.WebhookID(c.Param("webhook")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toWebhookResponse(w))
}

func (h webhookRoutes) update(c *gin.Context) {
	var req webhookPatch
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	w, err := h.msgs.UpdateWebhook(c.Request.Context(), principal(c), c.Param("ws"), domain.WebhookID(c.Param("webhook")), req.toPatch())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toWebhookResponse(w))
}

func (h webhookRoutes) delete(c *gin.Context) {
	if err := h.msgs.DeleteWebhook(c.Request.Context(), principal(c), c.Param("ws"), domain.WebhookID(c.Param("webhook"))); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// test answers 202 with the queued delivery: the dispatcher sends it
// after the response, and its log shows the outcome.
func (h webhookRoutes) test(c *gin.Context) {
	d, err := h.msgs.TestWebhook(c.Request.Context(), principal(c), c.Param("ws"), domain.WebhookID(c.Param("webhook")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, toDeliveryResponse(d))
}

func (h webhookRoutes) rotateSecret(c *gin.Context) {
	out, err := h.msgs.RotateWebhookSecret(c.Request.Context(), principal(c), c.Param("ws"), domain.WebhookID(c.Param("webhook")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, rotateSecretResponse{toWebhookResponse(out.Webhook), out.Secret, domain.Stamp{Time: out.PreviousExpiresAt}})
}

func (h webhookRoutes) listDeliveries(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]domain.WebhookDelivery, string, error) {
		return h.msgs.ListDeliveries(c.Request.Context(), principal(c), c.Param("ws"), domain.WebhookID(c.Param("webhook")), c.Query("status"), page)
	}, toDeliveryResponse)
}

func (h webhookRoutes) getDelivery(c *gin.Context) {
	d, err := h.msgs.GetDelivery(c.Request.Context(), principal(c), c.Param("ws"),
		domain.WebhookID(c.Param("webhook")), domain.DeliveryID(c.Param("delivery")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toDeliveryResponse(d))
}

// redeliver answers 202 with the delivery queued again.
func (h webhookRoutes) redeliver(c *gin.Context) {
	d, err := h.msgs.Redeliver(c.Request.Context(), principal(c), c.Param("ws"),
		domain.WebhookID(c.Param("webhook")), domain.DeliveryID(c.Param("delivery")))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, toDeliveryResponse(d))
}
