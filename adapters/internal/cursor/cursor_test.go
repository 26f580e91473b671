package cursor

import "testing"

func TestRoundTripAndStrictness(t *testing.T) {
	c := Encode("p", "123", "ent_x")
	if f, ok := Decode(c, "p", 2); !ok || f[0] != "123" || f[1] != "ent_x" {
		t.Errorf("Decode(Encode) = %q, %v", f, ok)
	}
	for _, bad := range []struct {
		s, tag string
		n      int
	}{{c, "o", 2}, {c, "p", 3}, {"!!", "p", 2}, {Encode("p", "1"), "p", 2}} {
		if _, ok := Decode(bad.s, bad.tag, bad.n); ok {
			t.Errorf("Decode(%q, %q, %d) accepted", bad.s, bad.tag, bad.n)
		}
	}
	for s, want := range map[string]bool{"0": true, "10": true, "042": false, "-1": false, "+1": false, "11": false, "x": false} {
		if _, ok := Natural(s, 10); ok != want {
			t.Errorf("Natural(%q, 10) ok = %v, want %v", s, ok, want)
		}
	}
}
