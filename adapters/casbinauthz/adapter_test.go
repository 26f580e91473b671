package casbinauthz

import (
	"errors"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
)

// TestAdapterIsReadOnly checks that writes through Casbin's API fail
// instead of changing a policy that the database would not hold.
func TestAdapterIsReadOnly(t *testing.T) {
	t.Parallel()
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		t.Fatal(err)
	}
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		t.Fatal(err)
	}
	e.SetAdapter(&adapter{})
	if _, err := e.AddPolicy("role:viewer", "*", "forms", "write"); !errors.Is(err, errReadOnly) {
		t.Errorf("AddPolicy: err = %v, want errReadOnly", err)
	}
	if _, err := e.AddGroupingPolicy("user:u", "role:owner", "ws_1"); !errors.Is(err, errReadOnly) {
		t.Errorf("AddGroupingPolicy: err = %v, want errReadOnly", err)
	}
	if _, err := e.RemoveFilteredPolicy(0, "role:viewer"); !errors.Is(err, errReadOnly) {
		t.Errorf("RemoveFilteredPolicy: err = %v, want errReadOnly", err)
	}
	if err := e.SavePolicy(); !errors.Is(err, errReadOnly) {
		t.Errorf("SavePolicy: err = %v, want errReadOnly", err)
	}
	if rules, _ := e.GetPolicy(); len(rules) != 0 {
		t.Errorf("policy after refused writes = %v, want empty", rules)
	}
	if err := (&adapter{}).RemovePolicy("p", "p", nil); !errors.Is(err, errReadOnly) {
		t.Errorf("RemovePolicy: err = %v, want errReadOnly", err)
	}
}
