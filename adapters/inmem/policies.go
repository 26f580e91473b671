package inmem

import (
	"cmp"
	"context"
	"slices"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

type policyStore struct{ tx *stores }

// Rules derives the role permissions from domain.RolePermissions, which
// sqlstore's migration seeds its role_permissions table with, and the
// grouping rules from memberships and unrevoked API keys. Expired keys
// keep their rule, as in sqlstore: authentication refuses them anyway.
func (s policyStore) Rules(ctx context.Context) ([]ports.PolicyRule, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var perms []domain.Permission
	for _, r := range domain.Roles {
		for _, p := range domain.RolePermissions[r] {
			if !slices.Contains(perms, p) {
				perms = append(perms, p)
			}
		}
	}
	var ps, gs, ks []ports.PolicyRule
	for _, r := range domain.Roles {
		for _, p := range perms {
			if r.Allows(p) {
				ps = append(ps, ports.PolicyRule{Type: "p", V0: "role:" + r.String(), V1: "*", V2: p.Object, V3: p.Action})
			}
		}
	}
	for _, m := range s.tx.s.memberships {
		gs = append(gs, ports.PolicyRule{Type: "g", V0: "user:" + string(m.User), V1: "role:" + m.Role.String(), V2: string(m.Workspace)})
	}
	for _, k := range s.tx.s.apiKeys {
		if !k.Revoked() {
			ks = append(ks, ports.PolicyRule{Type: "g", V0: "key:" + string(k.ID()), V1: "user:" + string(k.CreatedBy()), V2: string(k.Workspace())})
		}
	}
	// The order sqlstore's queries return.
	slices.SortFunc(ps, func(a, b ports.PolicyRule) int {
		return cmp.Or(cmp.Compare(a.V0, b.V0), cmp.Compare(a.V2, b.V2), cmp.Compare(a.V3, b.V3))
	})
	slices.SortFunc(gs, func(a, b ports.PolicyRule) int { return cmp.Or(cmp.Compare(a.V2, b.V2), cmp.Compare(a.V0, b.V0)) })
	slices.SortFunc(ks, func(a, b ports.PolicyRule) int { return cmp.Compare(a.V0, b.V0) })
	return slices.Concat(ps, gs, ks), nil
}
