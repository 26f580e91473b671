package sqlstore

import (
	"context"
	"fmt"

	"github.com/keelhq/keel/ports"
)

// policyStore implements ports.PolicyStore.
type policyStore struct{ *stores }

// Rules reads the seeded role permissions, one grouping rule per
// membership, and one per unrevoked API key tying it to its creator in
// its workspace. Expired keys keep their rule: expiry depends on the
// clock, which a policy loaded once and cached cannot follow, and
// authentication refuses expired keys before the policy is asked.
func (s policyStore) Rules(ctx context.Context) ([]ports.PolicyRule, error) {
	queries := []struct {
		what, sql string
		rule      func(a, b, c string) ports.PolicyRule
	}{
		{"role permissions", `SELECT role, object, action FROM role_permissions ORDER BY role, object, action`,
			func(role, obj, act string) ports.PolicyRule {
				return ports.PolicyRule{Type: "p", V0: "role:" + role, V1: "*", V2: obj, V3: act}
			}},
		{"memberships", `SELECT user_id, role, workspace_id FROM memberships ORDER BY workspace_id, user_id`,
			func(user, role, ws string) ports.PolicyRule {
				return ports.PolicyRule{Type: "g", V0: "user:" + user, V1: "role:" + role, V2: ws}
			}},
		{"API keys", `SELECT id, created_by, workspace_id FROM api_keys WHERE revoked_at IS NULL ORDER BY id`,
			func(key, user, ws string) ports.PolicyRule {
				return ports.PolicyRule{Type: "g", V0: "key:" + key, V1: "user:" + user, V2: ws}
			}},
	}
	var rules []ports.PolicyRule
	for _, q := range queries {
		rs, err := queryAll(ctx, s.q, q.sql, func(sc scanner) (ports.PolicyRule, error) {
			var a, b, c string
			err := sc.Scan(&a, &b, &c)
			return q.rule(a, b, c), err
		})
		if err != nil {
			return nil, fmt.Errorf("read policy %s: %w", q.what, err)
		}
		rules = append(rules, rs...)
	}
	return rules, nil
}
