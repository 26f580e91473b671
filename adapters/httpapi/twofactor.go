package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/application/identity"
	"github.com/keelhq/keel/domain"
)

func (h identityRoutes) registerTwoFactor(v1 *gin.RouterGroup) {
	v1.POST("/auth/login/second-factor", h.loginSecondFactor)
	v1.GET("/me/two-factor", h.twoFactorStatus)
	v1.POST("/me/two-factor", h.startTwoFactor)
	v1.POST("/me/two-factor/confirm", h.confirmTwoFactor)
	v1.POST("/me/two-factor/disable", h.disableTwoFactor)
	v1.POST("/me/two-factor/recovery-codes", h.regenerateRecoveryCodes)
}

// challengeKey holds, for the problems middleware, the challenge of a
// login that needs a second factor: the problem carries it as an
// extension member.
const challengeKey = "keel.login_challenge"

// withChallenge hands res's challenge, if any, to the problem that reports
// second_factor_required.
func withChallenge(c *gin.Context, res identity.LoginResult) {
	if res.Challenge != "" {
		c.Set(challengeKey, res)
	}
}

// addChallenge copies the challenge withChallenge stored into p.
func addChallenge(c *gin.Context, p *problem) {
	v, ok := c.Get(challengeKey)
	if res, isRes := v.(identity.LoginResult); ok && isRes {
		p.Challenge = res.Challenge
		p.ChallengeExpiresAt = &domain.Stamp{Time: res.ChallengeExpiresAt}
	}
}

type secondFactorRequest struct {
	Challenge    string `json:"challenge"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

func (h identityRoutes) loginSecondFactor(c *gin.Context) {
	var req secondFactorRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	res, err := h.ids.CompleteSecondFactor(c.Request.Context(), principal(c), identity.SecondFactorInput{Challenge: req.Challenge, Code: req.Code, RecoveryCode: req.RecoveryCode})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toLoginResponse(res))
}

type twoFactorResponse struct {
	Available         bool          `json:"available"`
	Enabled           bool          `json:"enabled"`
	Pending           bool          `json:"pending"`
	EnabledAt         *domain.Stamp `json:"enabled_at"`
	RecoveryCodesLeft int           `json:"recovery_codes_left"`
}

func (h identityRoutes) twoFactorStatus(c *gin.Context) {
	st, err := h.ids.TwoFactorStatus(c.Request.Context(), principal(c))
	if err != nil {
		fail(c, err)
		return
	}
	res := twoFactorResponse{Available: st.Available, Enabled: st.Enabled, Pending: st.Pending, RecoveryCodesLeft: st.RecoveryCodesLeft}
	if st.EnabledAt != nil {
		res.EnabledAt = &domain.Stamp{Time: *st.EnabledAt}
	}
	c.JSON(http.StatusOK, res)
}

type twoFactorEnrolmentResponse struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
}

type startTwoFactorRequest struct {
	Password string `json:"password"`
}

func (h identityRoutes) startTwoFactor(c *gin.Context) {
	var req startTwoFactorRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	e, err := h.ids.StartTwoFactor(c.Request.Context(), principal(c), req.Password)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, twoFactorEnrolmentResponse{Secret: e.Secret, OTPAuthURI: e.URI})
}

type confirmTwoFactorRequest struct {
	Code string `json:"code"`
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (h identityRoutes) confirmTwoFactor(c *gin.Context) {
	var req confirmTwoFactorRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	codes, err := h.ids.ConfirmTwoFactor(c.Request.Context(), principal(c), req.Code)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, recoveryCodesResponse{codes})
}

type secondFactorProofRequest struct {
	Password     string `json:"password"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

func (r secondFactorProofRequest) toProof() identity.SecondFactorProof {
	return identity.SecondFactorProof{Password: r.Password, Code: r.Code, RecoveryCode: r.RecoveryCode}
}

func (h identityRoutes) disableTwoFactor(c *gin.Context) {
	var req secondFactorProofRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := h.ids.DisableTwoFactor(c.Request.Context(), principal(c), req.toProof()); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h identityRoutes) regenerateRecoveryCodes(c *gin.Context) {
	var req secondFactorProofRequest
	if err := decodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	codes, err := h.ids.RegenerateRecoveryCodes(c.Request.Context(), principal(c), req.toProof())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, recoveryCodesResponse{codes})
}
