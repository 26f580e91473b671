package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
)

type instanceRoutes struct{ system *system.Service }

func (h instanceRoutes) register(v1 *gin.RouterGroup) {
	v1.GET("/instance", h.get)
}

type instanceResponse struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

func toInstanceResponse(i domain.Instance) instanceResponse {
	return instanceResponse{ID: i.ID(), CreatedAt: i.CreatedAt()}
}

// get returns the installation's identity, which tells operators and
// support which Keel they are talking to.
func (h instanceRoutes) get(c *gin.Context) {
	inst, err := h.system.Instance(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toInstanceResponse(inst))
}
