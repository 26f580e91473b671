package keelproc

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// Site is an instance set up for a test: its administrator's token, a
// workspace, and a form with one required text field, n, whose
// notification goes to team@site.test with a subject that starts with
// Tag, unique to the test, so that a test counts only its own mail in a
// shared Mailpit.
type Site struct {
	Token, WS, Form, Tag string
}

// NewSite sets up a fresh instance on p: the administrator
// owner@site.test, the workspace "site", and its form, whose
// notification subject is Tag followed by subjectSuffix (a template such
// as "-{{.Fields.n}}" gives each submission's mail a subject of its own).
// The form has no autoresponder: one submission, one message.
func NewSite(t *testing.T, p *Proc, name, subjectSuffix string) Site {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	s := Site{WS: "site", Tag: name + "-" + hex.EncodeToString(b)}
	var setup struct{ Token string }
	p.MustCall(t, "POST", "/v1/setup", "", map[string]any{"email": "owner@site.test", "password": "correct horse battery", "name": "Owner"}, 201, &setup)
	s.Token = setup.Token
	p.MustCall(t, "POST", "/v1/workspaces", s.Token, map[string]any{"name": "Site", "slug": s.WS}, 201, nil)
	var form struct{ ID string }
	p.MustCall(t, "POST", "/v1/workspaces/"+s.WS+"/forms", s.Token, map[string]any{
		"name":   "Orders",
		"fields": []map[string]any{{"name": "n", "label": "N", "type": "text", "required": true}},
		"notify": map[string]any{"recipients": []string{"team@site.test"}, "subject": s.Tag + subjectSuffix},
	}, 201, &form)
	s.Form = form.ID
	return s
}
