package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
)

// pageOf reads ?cursor=&limit=; lists answer {data, next_cursor, has_more}.
func pageOf(c *gin.Context) (ports.Page, error) {
	p := ports.Page{After: c.Query("cursor")}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > ports.MaxPageLimit {
			return p, domain.Invalid(domain.FieldError{Field: "limit", Code: "out_of_range", Message: "Use a limit from 1 to 200."})
		}
		p.Limit = n
	}
	if len(p.After) > 200 {
		return p, ports.ErrInvalidCursor
	}
	return p, nil
}

// listResponse is one page of a list. has_more says what a null
// next_cursor says, for clients that would rather test a boolean.
type listResponse[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

func toList[S, T any](items []S, next string, conv func(S) T) listResponse[T] {
	out := listResponse[T]{Data: make([]T, 0, len(items))}
	for _, it := range items {
		out.Data = append(out.Data, conv(it))
	}
	if next != "" {
		out.NextCursor, out.HasMore = &next, true
	}
	return out
}

// linkNext adds a Link header to the next page when there is one (RFC
// 8288): the request's path and query with param set to next, so that a
// client can follow pages without building URLs. The reference is
// relative to the request, since a proxy in front of Keel may change the
// scheme and host. It adds rather than sets, to keep other links.
func linkNext(c *gin.Context, param, next string) {
	if next == "" {
		return
	}
	q := c.Request.URL.Query()
	q.Set(param, next)
	c.Writer.Header().Add("Link", "<"+c.Request.URL.EscapedPath()+"?"+q.Encode()+`>; rel="next"`)
}

// serveList answers a list request: it reads the page, calls fetch (one use
// case) and encodes the items with conv.
func serveList[S, T any](c *gin.Context, fetch func(ports.Page) ([]S, string, error), conv func(S) T) {
	page, err := pageOf(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	items, next, err := fetch(page)
	if err != nil {
		_ = c.Error(err)
		return
	}
	linkNext(c, "cursor", next)
	c.JSON(http.StatusOK, toList(items, next, conv))
}
