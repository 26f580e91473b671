package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

func (h identityRoutes) registerInvitations(v1 *gin.RouterGroup) {
	v1.POST("/workspaces/:ws/invitations", h.invite)
	v1.GET("/workspaces/:ws/invitations", h.listInvitations)
	v1.DELETE("/workspaces/:ws/invitations/:invitation", h.revokeInvitation)
	v1.POST("/invitations/accept", h.acceptInvitation)
}

// invitationResponse never carries the token: it is in the mail alone.
type invitationResponse struct {
	ID        string       `json:"id"`
	Email     string       `json:"email"`
	Role      string       `json:"role"`
	InvitedBy string       `json:"invited_by"`
	CreatedAt domain.Stamp `json:"created_at"`
	ExpiresAt domain.Stamp `json:"expires_at"`
}

func toInvitationResponse(i domain.Invitation) invitationResponse {
	return invitationResponse{
		i.ID().String(), i.Email().String(), i.Role().String(), i.InvitedBy().String(),
		domain.Stamp{Time: i.CreatedAt()}, domain.Stamp{Time: i.ExpiresAt()},
	}
}

type inviteRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

func (h identityRoutes) invite(c *gin.Context) {
	var req inviteRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	role, err := domain.ParseRole(req.Role)
	if err != nil {
		fail(c, err)
		return
	}
	inv, err := h.ids.Invite(c.Request.Context(), principal(c), identity.InviteInput{Workspace: c.Param("ws"), Email: req.Email, Role: role})
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", c.Request.URL.Path+"/"+inv.ID().String())
	c.JSON(http.StatusCreated, toInvitationResponse(inv))
}

func (h identityRoutes) listInvitations(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]domain.Invitation, string, error) {
		return h.ids.ListInvitations(c.Request.Context(), principal(c), c.Param("ws"), page)
	}, toInvitationResponse)
}

func (h identityRoutes) revokeInvitation(c *gin.Context) {
	if err := h.ids.RevokeInvitation(c.Request.Context(), principal(c), c.Param("ws"), domain.InvitationID(c.Param("invitation"))); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type acceptInvitationRequest struct {
	Token    string `json:"token"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

type acceptedResponse struct {
	Workspace      workspaceResponse `json:"workspace"`
	Member         memberResponse    `json:"member"`
	AccountCreated bool              `json:"account_created"`
}

func (h identityRoutes) acceptInvitation(c *gin.Context) {
	var req acceptInvitationRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	acc, err := h.ids.AcceptInvitation(c.Request.Context(), principal(c), identity.AcceptInput{Token: req.Token, Name: req.Name, Password: req.Password})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, acceptedResponse{toWorkspaceResponse(acc.Workspace), toMemberResponse(acc.Member), acc.Created})
}
