package domain

import (
	"errors"
	"time"
)

// StampLayout is the one way Keel writes an instant: RFC 3339 in UTC with
// exactly six fractional digits, "2006-01-02T15:04:05.000000Z". Every
// timestamp has the same width, so comparing two as strings orders them in
// time, which a variable number of digits ("…:50Z" against "…:07.04567Z")
// does not.
const StampLayout = "2006-01-02T15:04:05.000000Z"

// Stamp is an instant as Keel shows it: in API responses, event data,
// webhook payloads, exports and audit details. It encodes in StampLayout,
// truncating below the microsecond rather than rounding, so a stamp never
// shows a later instant than the one it holds; the domain already keeps
// whole microseconds (see Timestamp), so nothing is lost. Decoding accepts
// any RFC 3339 time, as time.Time does.
type Stamp struct{ time.Time }

// StampOf is the Stamp of *t, or nil when t is: an instant that may be
// absent stays null in JSON.
func StampOf(t *time.Time) *Stamp {
	if t == nil {
		return nil
	}
	return &Stamp{*t}
}

// errStampYear mirrors time.Time's own refusal: RFC 3339 has four-digit
// years only.
var errStampYear = errors.New("domain: stamp year outside of range [0,9999]")

// String is s in StampLayout.
func (s Stamp) String() string { return s.UTC().Format(StampLayout) }

// MarshalText is s in StampLayout; it fails outside years 0 to 9999.
func (s Stamp) MarshalText() ([]byte, error) {
	t := s.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, errStampYear
	}
	return t.AppendFormat(make([]byte, 0, len(StampLayout)), StampLayout), nil
}

// MarshalJSON is s in StampLayout as a JSON string.
func (s Stamp) MarshalJSON() ([]byte, error) {
	t := s.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, errStampYear
	}
	b := make([]byte, 0, len(StampLayout)+2)
	b = append(b, '"')
	b = t.AppendFormat(b, StampLayout)
	return append(b, '"'), nil
}
