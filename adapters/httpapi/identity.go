package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// identityRoutes serves login, users, workspaces, members, API keys and
// the audit log. Handlers decode, call one use case and encode.
type identityRoutes struct{ ids *identity.Service }

func (h identityRoutes) register(v1 *gin.RouterGroup) {
	v1.POST("/setup", h.setup)
	v1.POST("/auth/login", h.login)
	v1.POST("/auth/logout", h.logout)
	v1.GET("/me", h.me)
	v1.GET("/api-keys/current", h.currentAPIKey)

	v1.POST("/users", h.createUser)
	v1.GET("/users", h.listUsers)
	v1.PATCH("/users/:user", h.updateUser)
	v1.POST("/users/invitations", h.inviteUser)

	v1.POST("/workspaces", h.createWorkspace)
	v1.GET("/workspaces", h.listWorkspaces)
	v1.GET("/workspaces/:ws", h.getWorkspace)
	v1.PATCH("/workspaces/:ws", h.updateWorkspace)
	v1.POST("/workspaces/:ws/mail-from/verify", h.verifyMailFrom)
	v1.DELETE("/workspaces/:ws", h.deleteWorkspace)

	v1.GET("/workspaces/:ws/members", h.listMembers)
	v1.POST("/workspaces/:ws/members", h.addMember)
	v1.PATCH("/workspaces/:ws/members/:user", h.changeMember)
	v1.DELETE("/workspaces/:ws/members/:user", h.removeMember)
	h.registerInvitations(v1)
	h.registerPasswordReset(v1)
	h.registerTwoFactor(v1)
	h.registerAccount(v1)

	v1.POST("/workspaces/:ws/api-keys", h.createAPIKey)
	v1.GET("/workspaces/:ws/api-keys", h.listAPIKeys)
	v1.PATCH("/workspaces/:ws/api-keys/:key", h.updateAPIKey)
	v1.DELETE("/workspaces/:ws/api-keys/:key", h.revokeAPIKey)
	v1.POST("/workspaces/:ws/api-keys/:key/rotate", h.rotateAPIKey)

	v1.GET("/workspaces/:ws/audit-events", h.listAuditEvents)
	v1.GET("/audit-events", h.listInstanceAuditEvents)
}

// fail reports err to the problems middleware.
func fail(c *gin.Context, err error) { _ = c.Error(err) }

// --- DTOs. Domain types carry no JSON tags; these do.

type userResponse struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// Invited is an account an invitation made that has no password yet.
	Invited       bool `json:"invited"`
	InstanceAdmin bool `json:"instance_admin"`
	// CanCreateWorkspaces is an instance administrator's leave to create
	// workspaces (see KEEL_WORKSPACE_CREATORS).
	CanCreateWorkspaces bool         `json:"can_create_workspaces"`
	CreatedAt           domain.Stamp `json:"created_at"`
}

func toUserResponse(u domain.User) userResponse {
	return userResponse{string(u.ID()), u.Email().String(), u.Name(), u.Status().String(), u.Invited(), u.IsInstanceAdmin(), u.CanCreateWorkspaces(), domain.Stamp{Time: u.CreatedAt()}}
}

type loginResponse struct {
	Token     string       `json:"token"`
	ExpiresAt domain.Stamp `json:"expires_at"`
	User      userResponse `json:"user"`
}

func toLoginResponse(r identity.LoginResult) loginResponse {
	return loginResponse{r.Token, domain.Stamp{Time: r.ExpiresAt}, toUserResponse(r.User)}
}

// workspaceResponse is a workspace. mail_from is "" when the workspace's
// mail goes out from the instance's sender, which it also does while
// mail_from_status is not verified.
type workspaceResponse struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Slug           string `json:"slug"`
	MailFrom       string `json:"mail_from"`
	MailFromStatus string `json:"mail_from_status"`
	// PublicOrigins may read the public content API: ["*"] is any.
	PublicOrigins []string     `json:"public_origins"`
	CreatedAt     domain.Stamp `json:"created_at"`
	// RateLimits are the workspace's own quotas per minute; 0 is the
	// instance's default.
	RateLimits rateLimitsResponse `json:"rate_limits"`
}

type rateLimitsResponse struct {
	APIKey  int `json:"api_key"`
	Session int `json:"session"`
}

func toWorkspaceResponse(w domain.Workspace) workspaceResponse {
	rl := w.RateLimits()
	return workspaceResponse{
		string(w.ID()), w.Name(), w.Slug(), w.MailFrom(), w.SenderStatus().String(), nonNil(w.PublicOrigins()), domain.Stamp{Time: w.CreatedAt()},
		rateLimitsResponse{rl.APIKey, rl.Session},
	}
}

type membershipResponse struct {
	Workspace workspaceResponse `json:"workspace"`
	Role      string            `json:"role"`
}

type meResponse struct {
	User        userResponse         `json:"user"`
	Memberships []membershipResponse `json:"memberships"`
}

type memberResponse struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

func toMemberResponse(m identity.Member) memberResponse {
	return memberResponse{string(m.User.ID()), m.User.Email().String(), m.User.Name(), m.Role.String()}
}

type apiKeyResponse struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Scopes     []string      `json:"scopes"`
	Prefix     string        `json:"prefix"`
	ExpiresAt  *domain.Stamp `json:"expires_at"`
	CreatedBy  string        `json:"created_by"`
	CreatedAt  domain.Stamp  `json:"created_at"`
	LastUsedAt *domain.Stamp `json:"last_used_at"`
	RevokedAt  *domain.Stamp `json:"revoked_at"`
	// Key is the secret, present only in the response that created it.
	Key string `json:"key,omitempty"`
}

func toAPIKeyResponse(k domain.APIKey) apiKeyResponse {
	scopes := make([]string, 0, len(k.Scopes()))
	for _, s := range k.Scopes() {
		scopes = append(scopes, s.String())
	}
	return apiKeyResponse{
		ID: string(k.ID()), Name: k.Name(), Scopes: scopes, Prefix: k.Prefix(), ExpiresAt: domain.StampOf(k.ExpiresAt()),
		CreatedBy: string(k.CreatedBy()), CreatedAt: domain.Stamp{Time: k.CreatedAt()}, LastUsedAt: domain.StampOf(k.LastUsedAt()), RevokedAt: domain.StampOf(k.RevokedAt()),
	}
}

type auditRef struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
}

type auditEventResponse struct {
	ID        string            `json:"id"`
	Action    string            `json:"action"`
	Actor     auditRef          `json:"actor"`
	Target    auditRef          `json:"target"`
	IP        string            `json:"ip"`
	UserAgent string            `json:"user_agent"`
	Details   map[string]string `json:"details,omitempty"`
	CreatedAt domain.Stamp      `json:"created_at"`
}

func toAuditEventResponse(e domain.AuditEvent) auditEventResponse {
	return auditEventResponse{
		ID: string(e.ID), Action: e.Action, Actor: auditRef{e.ActorKind, e.ActorID}, Target: auditRef{e.TargetKind, e.TargetID},
		IP: e.IP, UserAgent: e.UserAgent, Details: e.Details, CreatedAt: domain.Stamp{Time: e.CreatedAt},
	}
}

// --- Handlers.

type credentialsRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

func (h identityRoutes) setup(c *gin.Context) {
	var req credentialsRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	res, err := h.ids.Setup(c.Request.Context(), principal(c), identity.SetupInput{Email: req.Email, Password: req.Password, Name: req.Name})
	if err != nil {
		fail(c, err)
		return
	}
	// The first user is the caller, whose account /v1/me shows.
	c.Header("Location", "/v1/me")
	c.JSON(http.StatusCreated, toLoginResponse(res))
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (h identityRoutes) login(c *gin.Context) {
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	res, err := h.ids.Login(c.Request.Context(), principal(c), identity.LoginInput{Email: req.Email, Password: req.Password})
	if err != nil {
		withChallenge(c, res)
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toLoginResponse(res))
}

func (h identityRoutes) logout(c *gin.Context) {
	if err := h.ids.Logout(c.Request.Context(), principal(c)); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h identityRoutes) me(c *gin.Context) {
	me, err := h.ids.Me(c.Request.Context(), principal(c))
	if err != nil {
		fail(c, err)
		return
	}
	out := meResponse{User: toUserResponse(me.User), Memberships: []membershipResponse{}}
	for _, m := range me.Memberships {
		out.Memberships = append(out.Memberships, membershipResponse{toWorkspaceResponse(m.Workspace), m.Role.String()})
	}
	c.JSON(http.StatusOK, out)
}

type createUserRequest struct {
	Email         string `json:"email"`
	Password      string `json:"password"`
	Name          string `json:"name"`
	InstanceAdmin bool   `json:"instance_admin"`
}

func (h identityRoutes) createUser(c *gin.Context) {
	var req createUserRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	u, err := h.ids.CreateUser(c.Request.Context(), principal(c), identity.CreateUserInput{
		Email: req.Email, Password: req.Password, Name: req.Name, InstanceAdmin: req.InstanceAdmin,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", "/v1/users/"+string(u.ID()))
	c.JSON(http.StatusCreated, toUserResponse(u))
}

type inviteUserRequest struct {
	Email         string `json:"email"`
	Name          string `json:"name"`
	InstanceAdmin bool   `json:"instance_admin"`
}

// inviteUser answers 202: the account exists, the mail that activates it
// is only queued.
func (h identityRoutes) inviteUser(c *gin.Context) {
	var req inviteUserRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	u, err := h.ids.InviteUser(c.Request.Context(), principal(c), identity.InviteUserInput{
		Email: req.Email, Name: req.Name, InstanceAdmin: req.InstanceAdmin,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, toUserResponse(u))
}

func (h identityRoutes) listUsers(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]domain.User, string, error) {
		return h.ids.ListUsers(c.Request.Context(), principal(c), page)
	}, toUserResponse)
}

type updateUserRequest struct {
	Status              *string `json:"status"`
	CanCreateWorkspaces *bool   `json:"can_create_workspaces"`
}

func (h identityRoutes) updateUser(c *gin.Context) {
	var req updateUserRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	in := identity.UpdateUserInput{ID: domain.UserID(c.Param("user")), CanCreateWorkspaces: req.CanCreateWorkspaces}
	if req.Status != nil {
		st, err := domain.ParseUserStatus(*req.Status)
		if err != nil {
			fail(c, err)
			return
		}
		in.Status = &st
	}
	u, err := h.ids.UpdateUser(c.Request.Context(), principal(c), in)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toUserResponse(u))
}

type workspaceRequest struct {
	Name          *string   `json:"name"`
	Slug          *string   `json:"slug"`
	MailFrom      *string   `json:"mail_from"`
	PublicOrigins *[]string `json:"public_origins"`
	// RateLimits sets the workspace's own quotas per minute; a field left
	// out stays as it is, and 0 returns to the instance's default.
	RateLimits *rateLimitsRequest `json:"rate_limits"`
}

type rateLimitsRequest struct {
	APIKey  *int `json:"api_key"`
	Session *int `json:"session"`
}

// rateLimitsOf returns the quotas req sets, nil for those it leaves.
func (req workspaceRequest) rateLimitsOf() (apiKey, session *int) {
	if req.RateLimits == nil {
		return nil, nil
	}
	return req.RateLimits.APIKey, req.RateLimits.Session
}

func (h identityRoutes) createWorkspace(c *gin.Context) {
	var req workspaceRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	in := identity.CreateWorkspaceInput{PublicOrigins: req.PublicOrigins}
	in.APIKeyRateLimit, in.SessionRateLimit = req.rateLimitsOf()
	if req.Name != nil {
		in.Name = *req.Name
	}
	if req.Slug != nil {
		in.Slug = *req.Slug
	}
	if req.MailFrom != nil {
		in.MailFrom = *req.MailFrom
	}
	w, err := h.ids.CreateWorkspace(c.Request.Context(), principal(c), in)
	if err != nil {
		fail(c, err)
		return
	}
	// The ID, not the slug, which a rename may change.
	c.Header("Location", "/v1/workspaces/"+string(w.ID()))
	c.JSON(http.StatusCreated, toWorkspaceResponse(w))
}

func (h identityRoutes) listWorkspaces(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]domain.Workspace, string, error) {
		return h.ids.ListWorkspaces(c.Request.Context(), principal(c), page)
	}, toWorkspaceResponse)
}

func (h identityRoutes) getWorkspace(c *gin.Context) {
	w, err := h.ids.GetWorkspace(c.Request.Context(), principal(c), c.Param("ws"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toWorkspaceResponse(w))
}

func (h identityRoutes) updateWorkspace(c *gin.Context) {
	var req workspaceRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	in := identity.UpdateWorkspaceInput{Ref: c.Param("ws"), Name: req.Name, Slug: req.Slug, MailFrom: req.MailFrom, PublicOrigins: req.PublicOrigins}
	in.APIKeyRateLimit, in.SessionRateLimit = req.rateLimitsOf()
	w, err := h.ids.UpdateWorkspace(c.Request.Context(), principal(c), in)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toWorkspaceResponse(w))
}

type verifyMailFromRequest struct {
	Code string `json:"code"`
}

func (h identityRoutes) verifyMailFrom(c *gin.Context) {
	var req verifyMailFromRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	w, err := h.ids.VerifyMailFrom(c.Request.Context(), principal(c), c.Param("ws"), req.Code)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toWorkspaceResponse(w))
}

func (h identityRoutes) deleteWorkspace(c *gin.Context) {
	if err := h.ids.DeleteWorkspace(c.Request.Context(), principal(c), c.Param("ws")); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h identityRoutes) listMembers(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]identity.Member, string, error) {
		return h.ids.ListMembers(c.Request.Context(), principal(c), c.Param("ws"), page)
	}, toMemberResponse)
}

type memberRequest struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
}

func (h identityRoutes) addMember(c *gin.Context) {
	var req memberRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	role, err := domain.ParseRole(req.Role)
	if err != nil {
		fail(c, err)
		return
	}
	m, inv, err := h.ids.AddMemberOrInvite(c.Request.Context(), principal(c), identity.AddMemberInput{
		Workspace: c.Param("ws"), UserID: domain.UserID(req.UserID), Email: req.Email, Role: role,
	})
	if err != nil {
		fail(c, err)
		return
	}
	if inv != nil {
		// An address with no account was invited instead: 202, since the
		// membership waits on the invitee.
		c.Header("Location", strings.TrimSuffix(c.Request.URL.Path, "members")+"invitations/"+inv.ID().String())
		c.JSON(http.StatusAccepted, toInvitationResponse(*inv))
		return
	}
	c.Header("Location", c.Request.URL.Path+"/"+string(m.User.ID()))
	c.JSON(http.StatusCreated, toMemberResponse(m))
}

type changeMemberRequest struct {
	Role string `json:"role"`
}

func (h identityRoutes) changeMember(c *gin.Context) {
	var req changeMemberRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	role, err := domain.ParseRole(req.Role)
	if err != nil {
		fail(c, err)
		return
	}
	m, err := h.ids.ChangeMember(c.Request.Context(), principal(c), identity.ChangeMemberInput{
		Workspace: c.Param("ws"), User: domain.UserID(c.Param("user")), Role: role,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toMemberResponse(m))
}

func (h identityRoutes) removeMember(c *gin.Context) {
	if err := h.ids.RemoveMember(c.Request.Context(), principal(c), c.Param("ws"), domain.UserID(c.Param("user"))); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type createAPIKeyRequest struct {
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (h identityRoutes) createAPIKey(c *gin.Context) {
	var req createAPIKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	k, err := h.ids.CreateAPIKey(c.Request.Context(), principal(c), identity.CreateAPIKeyInput{
		Workspace: c.Param("ws"), Name: req.Name, Scopes: req.Scopes, ExpiresAt: req.ExpiresAt,
	})
	if err != nil {
		fail(c, err)
		return
	}
	out := toAPIKeyResponse(k.Key)
	out.Key = k.Secret
	// The secret is in this body only: keep it out of every cache.
	c.Header("Cache-Control", "no-store")
	c.Header("Location", c.Request.URL.Path+"/"+out.ID)
	c.JSON(http.StatusCreated, out)
}

// currentAPIKeyResponse is a key's view of itself: the key as the list
// shows it, without secret or hash, and the workspace it acts in.
type currentAPIKeyResponse struct {
	apiKeyResponse
	Workspace workspaceRef `json:"workspace"`
}

type workspaceRef struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
}

func (h identityRoutes) currentAPIKey(c *gin.Context) {
	cur, err := h.ids.CurrentAPIKey(c.Request.Context(), principal(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, currentAPIKeyResponse{
		apiKeyResponse: toAPIKeyResponse(cur.Key),
		Workspace:      workspaceRef{ID: string(cur.Workspace.ID()), Slug: cur.Workspace.Slug()},
	})
}

func (h identityRoutes) listAPIKeys(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]domain.APIKey, string, error) {
		return h.ids.ListAPIKeys(c.Request.Context(), principal(c), c.Param("ws"), page)
	}, toAPIKeyResponse)
}

// updateAPIKeyRequest leaves out what it does not change; scopes, when
// present, replace the key's and may only narrow them.
type updateAPIKeyRequest struct {
	Name   *string  `json:"name"`
	Scopes []string `json:"scopes"`
}

func (h identityRoutes) updateAPIKey(c *gin.Context) {
	var req updateAPIKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	k, err := h.ids.UpdateAPIKey(c.Request.Context(), principal(c), identity.UpdateAPIKeyInput{
		Workspace: c.Param("ws"), ID: domain.APIKeyID(c.Param("key")), Name: req.Name, Scopes: req.Scopes,
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toAPIKeyResponse(k))
}

// rotateAPIKeyRequest's body is optional: no grace period means 24 hours.
type rotateAPIKeyRequest struct {
	GracePeriod *string `json:"grace_period"`
}

// rotatedAPIKeyResponse is the key with its new secret, shown this once,
// and when the secret it replaced stops working (null: already stopped).
type rotatedAPIKeyResponse struct {
	apiKeyResponse
	PreviousKeyExpiresAt *domain.Stamp `json:"previous_key_expires_at"`
}

func (h identityRoutes) rotateAPIKey(c *gin.Context) {
	var req rotateAPIKeyRequest
	if err := optionalJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	k, err := h.ids.RotateAPIKey(c.Request.Context(), principal(c), identity.RotateAPIKeyInput{
		Workspace: c.Param("ws"), ID: domain.APIKeyID(c.Param("key")), GracePeriod: req.GracePeriod,
	})
	if err != nil {
		fail(c, err)
		return
	}
	out := rotatedAPIKeyResponse{apiKeyResponse: toAPIKeyResponse(k.Key), PreviousKeyExpiresAt: domain.StampOf(k.Key.PreviousUntil())}
	out.Key = k.Secret
	// The secret is in this body only: keep it out of every cache.
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (h identityRoutes) revokeAPIKey(c *gin.Context) {
	if err := h.ids.RevokeAPIKey(c.Request.Context(), principal(c), c.Param("ws"), domain.APIKeyID(c.Param("key"))); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h identityRoutes) listAuditEvents(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]domain.AuditEvent, string, error) {
		return h.ids.ListAuditEvents(c.Request.Context(), principal(c), c.Param("ws"), page)
	}, toAuditEventResponse)
}

func (h identityRoutes) listInstanceAuditEvents(c *gin.Context) {
	serveList(c, func(page ports.Page) ([]domain.AuditEvent, string, error) {
		return h.ids.ListInstanceAuditEvents(c.Request.Context(), principal(c), page)
	}, toAuditEventResponse)
}
