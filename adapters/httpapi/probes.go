package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
)

// probes serves the liveness and readiness endpoints that load balancers
// and orchestrators poll. They sit outside /v1: they are not part of the
// versioned API contract.
type probes struct{ system *system.Service }

func (h probes) register(e *gin.Engine) {
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
}

type statusResponse struct {
	Status string `json:"status"`
}

// healthz answers as long as the process serves HTTP: it checks nothing
// else, so a database outage never gets healthy nodes restarted.
func (probes) healthz(c *gin.Context) {
	// Constant bytes: load balancers call this many times a second.
	c.Data(http.StatusOK, "application/json; charset=utf-8", healthzBody)
}

var healthzBody = []byte(`{"status":"ok"}`)

// readyz answers 200 only while the database answers, so a load balancer
// stops sending traffic to a node that cannot serve it.
func (h probes) readyz(c *gin.Context) {
	if err := h.system.Ready(c.Request.Context()); err != nil {
		_ = c.Error(errNotReady.WithCause(err))
		return
	}
	c.JSON(http.StatusOK, statusResponse{Status: "ready"})
}

var errNotReady = domain.E(domain.KindUnavailable, "not_ready", "This node cannot serve requests: its database does not answer.")
