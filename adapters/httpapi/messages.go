package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// messageRoutes lets workspace administrators see the mail outbox and
// retry what failed.
type messageRoutes struct{ msgs *messaging.Service }

func (h messageRoutes) register(v1 *gin.RouterGroup) {
	v1.GET("/workspaces/:ws/messages", h.list)
	v1.POST("/workspaces/:ws/messages/:message/retry", h.retry)
}

type attemptResponse struct {
	At    domain.Stamp `json:"at"`
	Error *string      `json:"error"` // null for the attempt that succeeded
}

type messageResponse struct {
	ID           string            `json:"id"`
	Kind         string            `json:"kind"`
	Status       string            `json:"status"`
	To           []string          `json:"to"`
	Subject      string            `json:"subject"`
	SubmissionID *string           `json:"submission_id"`
	Attempts     []attemptResponse `json:"attempts"`
	// NextAttemptAt is when a pending message is due; null otherwise.
	NextAttemptAt *domain.Stamp `json:"next_attempt_at"`
	CreatedAt     domain.Stamp  `json:"created_at"`
	SentAt        *domain.Stamp `json:"sent_at"`
}

func toMessageResponse(m domain.OutboxMessage) messageResponse {
	r := messageResponse{
		ID: m.Message.ID(), Kind: m.Kind, Status: m.Status.String(), To: []string{}, Subject: m.Message.Subject(),
		Attempts: make([]attemptResponse, 0, len(m.Attempts)), CreatedAt: domain.Stamp{Time: m.CreatedAt}, SentAt: domain.StampOf(m.SentAt),
	}
	for _, a := range m.Message.To() {
		r.To = append(r.To, a.Address)
	}
	if m.Submission != "" {
		s := string(m.Submission)
		r.SubmissionID = &s
	}
	for _, a := range m.Attempts {
		ar := attemptResponse{At: domain.Stamp{Time: a.At}}
		if a.Error != "" {
			e := a.Error
			ar.Error = &e
		}
		r.Attempts = append(r.Attempts, ar)
	}
	if m.Status == domain.OutboxPending {
		r.NextAttemptAt = &domain.Stamp{Time: m.NextAttemptAt}
	}
	return r
}

func (h messageRoutes) list(c *gin.Context) {
	var status *domain.OutboxStatus
	if s := c.Query("status"); s != "" {
		st, err := domain.ParseOutboxStatus(s)
		if err != nil {
			fail(c, err)
			return
		}
		status = &st
	}
	serveList(c, func(page ports.Page) ([]domain.OutboxMessage, string, error) {
		return h.msgs.ListMessages(c.Request.Context(), principal(c), c.Param("ws"), status, page)
	}, toMessageResponse)
}

func (h messageRoutes) retry(c *gin.Context) {
	m, err := h.msgs.RetryMessage(c.Request.Context(), principal(c), c.Param("ws"), c.Param("message"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toMessageResponse(m))
}
