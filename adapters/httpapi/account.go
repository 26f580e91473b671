package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/identity"
)

// registerAccount serves the signed-in user's changes to their own
// account, and the confirmation of a new address, which the link mailed
// to that address carries and which needs no session.
func (h identityRoutes) registerAccount(v1 *gin.RouterGroup) {
	v1.POST("/me/password", h.changePassword)
	v1.POST("/me/email", h.changeEmail)
	v1.POST("/auth/email-change/confirm", h.confirmEmailChange)
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword answers 204; the session that made the change stays, the
// account's other sessions end.
func (h identityRoutes) changePassword(c *gin.Context) {
	var req changePasswordRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	in := identity.ChangePasswordInput{Current: req.CurrentPassword, New: req.NewPassword}
	if err := h.ids.ChangePassword(c.Request.Context(), principal(c), in); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type changeEmailRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// changeEmail answers 202: the address changes when the link mailed to
// the new address is followed.
func (h identityRoutes) changeEmail(c *gin.Context) {
	var req changeEmailRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	in := identity.ChangeEmailInput{Email: req.Email, Password: req.Password}
	if err := h.ids.RequestEmailChange(c.Request.Context(), principal(c), in); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusAccepted)
}

type confirmEmailChangeRequest struct {
	Token string `json:"token"`
}

// confirmEmailChange answers 204 once the account has its new address.
func (h identityRoutes) confirmEmailChange(c *gin.Context) {
	var req confirmEmailChangeRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if _, err := h.ids.ConfirmEmailChange(c.Request.Context(), principal(c), req.Token); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
