package httpapi

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/keelhq/keel/domain"
)

// submissionFileRoute serves a submission's file through the signed link
// a member got with the submission (forms.Service.FileLink): the link is
// the credential, so the route needs no Authorization header, and it works
// for forms.FileLinkTTL only.
const submissionFileRoute = "/submission-files/:ws/:submission/:n"

func (h formRoutes) registerFiles(v1 *gin.RouterGroup) {
	v1.GET(submissionFileRoute, h.downloadFile)
}

// downloadFile always answers with Content-Disposition: attachment, the
// type Keel sniffed and nosniff, under a sandboxing CSP: a visitor's file
// must never run as a page of the API's origin.
func (h formRoutes) downloadFile(c *gin.Context) {
	rc, f, err := h.forms.OpenFile(c.Request.Context(), domain.WorkspaceID(c.Param("ws")), domain.SubmissionID(c.Param("submission")),
		c.Param("n"), c.Query("expires"), c.Query("sig"))
	if err != nil {
		fail(c, err)
		return
	}
	defer rc.Close()
	c.Header("Content-Type", f.ContentType)
	c.Header("Content-Length", strconv.FormatInt(f.Size, 10))
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", "default-src 'none'; sandbox")
	c.Header("Referrer-Policy", "no-referrer")
	c.Status(http.StatusOK)
	if c.Request.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(c.Writer, rc) // a client that leaves mid-way is no error of ours
}

// linkBase is the absolute base of the links Keel writes into responses.
func linkBase(publicURL string) string {
	if publicURL == "" {
		return DefaultPublicURL
	}
	return strings.TrimSuffix(publicURL, "/")
}
