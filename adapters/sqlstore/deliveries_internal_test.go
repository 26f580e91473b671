package sqlstore

import (
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// TestIDBefore: retention narrows its scan with idBefore, which must
// sort between the IDs made before t and those made at t or later.
func TestIDBefore(t *testing.T) {
	for _, c := range []struct {
		ms   int64
		want string
	}{
		{0, "dlv_00000000000000000000000000"},
		{1, "dlv_00000000010000000000000000"},
		{32, "dlv_00000000100000000000000000"},
		{1 << 47, "dlv_40000000000000000000000000"},
		{1<<48 - 1, "dlv_7zzzzzzzzz0000000000000000"},
	} {
		if got := idBefore(domain.PrefixDelivery, time.UnixMilli(c.ms)); got != c.want {
			t.Errorf("idBefore(%d ms) = %s, want %s", c.ms, got, c.want)
		}
	}
	// An ID made now sorts between the bounds of a millisecond ago and
	// of tomorrow, and agrees with them on its prefix. Nothing here makes
	// an ID in the future, which would move domain.NewID's clock for the
	// rest of the process.
	now := time.Now()
	id := domain.NewID(domain.PrefixDelivery, now)
	if before, after := idBefore(domain.PrefixDelivery, now.Add(-time.Millisecond)), idBefore(domain.PrefixDelivery, now.Add(24*time.Hour)); !(before < id && id < after) {
		t.Errorf("ID made now %s, want it after %s and before %s", id, before, after)
	}
	if !domain.ValidID(domain.PrefixDelivery, idBefore(domain.PrefixDelivery, now)) {
		t.Errorf("idBefore(now) = %s is not shaped as an ID", idBefore(domain.PrefixDelivery, now))
	}
}
