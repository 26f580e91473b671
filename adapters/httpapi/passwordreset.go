package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (h identityRoutes) registerPasswordReset(v1 *gin.RouterGroup) {
	v1.POST("/auth/password-reset", h.requestPasswordReset)
	v1.POST("/auth/password-reset/confirm", h.confirmPasswordReset)
}

type passwordResetRequest struct {
	Email string `json:"email"`
}

// requestPasswordReset answers 202 whatever the address: whether it has an
// account is for its owner's mailbox to tell.
func (h identityRoutes) requestPasswordReset(c *gin.Context) {
	var req passwordResetRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := h.ids.RequestPasswordReset(c.Request.Context(), principal(c), req.Email); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusAccepted)
}

type confirmPasswordResetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (h identityRoutes) confirmPasswordReset(c *gin.Context) {
	var req confirmPasswordResetRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := h.ids.ConfirmPasswordReset(c.Request.Context(), principal(c), req.Token, req.Password); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
