package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/system"
	"github.com/keelhq/keel/domain"
)

type instanceRoutes struct {
	system *system.Service
	build  Build
}

// Build identifies the running binary: the version, and the commit it
// was built from when known ("" otherwise), with Modified when the
// working tree had uncommitted changes.
type Build struct {
	Version, Commit string
	Modified        bool
}

func (h instanceRoutes) register(v1 *gin.RouterGroup) {
	v1.GET("/instance", h.get)
}

type instanceResponse struct {
	ID        string       `json:"id"`
	CreatedAt domain.Stamp `json:"created_at"`
	Version   string       `json:"version"`
	Commit    string       `json:"commit"`
	Modified  bool         `json:"modified"`
}

func toInstanceResponse(i domain.Instance, b Build) instanceResponse {
	return instanceResponse{ID: i.ID(), CreatedAt: domain.Stamp{Time: i.CreatedAt()}, Version: b.Version, Commit: b.Commit, Modified: b.Modified}
}

// get returns the installation's identity and the build it runs, which
// tell operators and support which Keel they are talking to.
func (h instanceRoutes) get(c *gin.Context) {
	inst, err := h.system.Instance(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, toInstanceResponse(inst, h.build))
}
