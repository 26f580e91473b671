package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// eventRoutes serves the change feed: what changed in a workspace, oldest
// first, after the last event a partner saw.
type eventRoutes struct{ msgs *messaging.Service }

func (h eventRoutes) register(v1 *gin.RouterGroup) {
	v1.GET("/workspaces/:ws/events", h.list)
}

type eventResponse struct {
	ID        string       `json:"id"`
	Type      string       `json:"type"`
	CreatedAt domain.Stamp `json:"created_at"`
	Workspace string       `json:"workspace"`
	// Data is the resource as the API shows it, stored as written when the
	// event happened; for a deletion, its ID and what is safe to keep.
	Data json.RawMessage `json:"data"`
}

func toEventResponse(e domain.Event) eventResponse {
	return eventResponse{ID: string(e.ID), Type: e.Type, CreatedAt: domain.Stamp{Time: e.CreatedAt}, Workspace: e.Workspace.String(), Data: e.Data}
}

// list answers ?type=&after=&limit= with {data, next_cursor, has_more}.
// after is the ID of the last event the reader saw, not an opaque cursor,
// so that a partner can keep it from the events themselves; next_cursor is
// set, and the Link header leads on with after=, while more events follow.
func (h eventRoutes) list(c *gin.Context) {
	page := ports.Page{After: c.Query("after")}
	if len(page.After) > 200 {
		fail(c, ports.ErrInvalidCursor)
		return
	}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > messaging.MaxEventPage {
			fail(c, domain.Invalid(domain.FieldError{Field: "limit", Code: "out_of_range", Message: "Use a limit from 1 to 100."}))
			return
		}
		page.Limit = n
	}
	evs, next, err := h.msgs.ListEvents(c.Request.Context(), principal(c), c.Param("ws"), c.Query("type"), page)
	if err != nil {
		fail(c, err)
		return
	}
	linkNext(c, "after", next)
	c.JSON(http.StatusOK, toList(evs, next, toEventResponse))
}
