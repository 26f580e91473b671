package authz

import (
	"strings"

	"github.com/keelhq/keel/domain"
)

// twoFactorSealer lets the stack's people enrol in two-factor
// authentication.
var twoFactorSealer = func() *domain.SecretSealer {
	s, err := domain.NewSecretSealer(strings.Repeat("k", domain.MinSecretKeyLen))
	if err != nil {
		panic(err)
	}
	return s
}()

func secondFactorBody(*fixture) any {
	return map[string]string{"challenge": "klc_0000000000000000000000000000000000000000000000000000", "code": "123456"}
}

// unusableChallenge is the code every caller with good or no credentials
// gets for a made-up login challenge.
var unusableChallenge = map[principal]string{
	anonymous: "login_challenge_unusable", viewer: "login_challenge_unusable", editor: "login_challenge_unusable", admin: "login_challenge_unusable",
	owner: "login_challenge_unusable", instanceAdmin: "login_challenge_unusable", keyWithScope: "login_challenge_unusable",
	keyWithoutScope: "login_challenge_unusable", otherMember: "login_challenge_unusable",
}

func confirmTwoFactorBody(*fixture) any { return map[string]string{"code": "123456"} }

func twoFactorProofBody(*fixture) any { return map[string]string{"password": password} }

// twoFactorConflict is the code people get from a two-factor change that
// the state of their (absent) enrolment forbids.
func twoFactorConflict(code string) map[principal]string {
	return map[principal]string{viewer: code, editor: code, admin: code, owner: code, instanceAdmin: code, otherMember: code}
}
