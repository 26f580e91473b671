package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// deprecation is what Keel announces about one deprecated operation.
type deprecation struct {
	since  time.Time // the day it was deprecated
	sunset time.Time // the first day it may be gone
	// successor is the route that replaces it, whose :name segments are
	// filled from the request's, so that a client is shown its own URL.
	successor string

	deprecationHeader, sunsetHeader []string // prepared once
}

// deprecationInfo is where a person reads what a deprecation means and
// what replaces the operation: the API reference this Keel serves, whose
// document marks the operation deprecated and names its successor.
const deprecationInfo = `</v1/docs>; rel="deprecation"; type="text/html"`

// deprecated lists every deprecated /v1 operation. Each keeps working as
// documented until its sunset, and every response it gives, errors
// included, says so: Deprecation (RFC 9745) with the date it was
// deprecated, Sunset (RFC 8594) with the date from which it may be gone,
// and Link to the reference (rel="deprecation") and to the operation that
// replaces it (rel="successor-version"). The OpenAPI document marks
// exactly these operations deprecated: true, and a sunset comes at least
// six months after its deprecation, as the README promises; tests check
// both.
var deprecated = map[Route]*deprecation{
	// rotate-secret was webhooks' own spelling of what API keys call
	// rotate; one verb for one action, so that clients learn it once.
	{http.MethodPost, "/v1/workspaces/:ws/webhooks/:webhook/rotate-secret"}: newDeprecation(
		day(2026, time.December, 3), day(2027, time.June, 3), "/v1/workspaces/:ws/webhooks/:webhook/rotate"),
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func newDeprecation(since, sunset time.Time, successor string) *deprecation {
	return &deprecation{
		since: since, sunset: sunset, successor: successor,
		deprecationHeader: []string{"@" + strconv.FormatInt(since.Unix(), 10)},
		sunsetHeader:      []string{sunset.UTC().Format(http.TimeFormat)},
	}
}

// announceDeprecation adds the headers of a deprecated operation before
// anything else runs, so that its refusals carry them too. Any other
// route costs one map lookup.
func announceDeprecation(c *gin.Context) {
	d := deprecated[Route{c.Request.Method, c.FullPath()}]
	if d == nil {
		return
	}
	hd := c.Writer.Header()
	hd["Deprecation"] = d.deprecationHeader
	hd["Sunset"] = d.sunsetHeader
	hd.Add("Link", deprecationInfo)
	hd.Add("Link", "<"+fillRoute(d.successor, c.Params)+`>; rel="successor-version"`)
}

// fillRoute replaces each :name segment of route with the request's
// value of that parameter, escaped for a path.
func fillRoute(route string, params gin.Params) string {
	segs := strings.Split(route, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			v, _ := params.Get(name)
			segs[i] = url.PathEscape(v)
		}
	}
	return strings.Join(segs, "/")
}
