package e2e

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/keelhq/keel/api/openapitest"
	"github.com/keelhq/keel/client"
	"github.com/keelhq/keel/test/keelproc"
)

// newClient returns the generated Go client for the server at base, acting
// with token (none when empty), its every exchange checked against the
// OpenAPI document: what partners call is what this test calls.
func newClient(t *testing.T, base, token string) *client.ClientWithResponses {
	t.Helper()
	opts := []client.ClientOption{client.WithHTTPClient(&http.Client{Transport: openapitest.Transport(t, nil)})}
	if token != "" {
		opts = append(opts, client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		}))
	}
	c, err := client.NewClientWithResponses(base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expect takes a generated call's results and returns a check that fails
// t unless the call answered status want, quoting the body otherwise:
// expect(c.GetMeWithResponse(ctx))(t, "me", 200).
func expect[R any](r *R, err error) func(t *testing.T, what string, want int) *R {
	return func(t *testing.T, what string, want int) *R {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := any(r).(interface{ StatusCode() int }).StatusCode()
		if got != want {
			body := reflect.ValueOf(r).Elem().FieldByName("Body").Bytes()
			t.Fatalf("%s: status %d, want %d: %s", what, got, want, body)
		}
		return r
	}
}

func ptr[T any](v T) *T { return &v }

// TestGoClient drives a real keel serve through the generated Go client
// (client/), as a partner's program would: setup and login, a workspace, a
// form and a public submission to it (retried with its Idempotency-Key),
// an entry published and read back
// through the public site API, the change feed, and an API key acting
// within its scopes. openapitest.Transport checks every request and
// response against api/openapi.yaml on the way.
func TestGoClient(t *testing.T) {
	t.Parallel()
	p := keelproc.Serve(t, "keel", []string{"KEEL_DATA_DIR=" + t.TempDir()})
	ctx := t.Context()
	anon := newClient(t, p.URL, "")

	const email, password = "ada@example.com", "correct horse battery"
	setup := expect(anon.SetupWithResponse(ctx, nil, client.SetupJSONRequestBody{Email: email, Name: "Ada", Password: password}))(t, "setup", 201)
	if setup.JSON201.Token == "" || setup.JSON201.User.Name != "Ada" {
		t.Fatalf("setup answered %s", setup.Body)
	}
	login := expect(anon.LoginWithResponse(ctx, nil, client.LoginJSONRequestBody{Email: email, Password: password}))(t, "login", 200)
	owner := newClient(t, p.URL, login.JSON200.Token)
	me := expect(owner.GetMeWithResponse(ctx))(t, "me", 200)
	if string(me.JSON200.User.Email) != email {
		t.Fatalf("me = %s, want %s", me.Body, email)
	}

	ws := expect(owner.CreateWorkspaceWithResponse(ctx, nil, client.WorkspaceInput{Name: ptr("Docs"), Slug: ptr("docs")}))(t, "create workspace", 201)
	if loc := ws.HTTPResponse.Header.Get("Location"); loc != "/v1/workspaces/"+ws.JSON201.ID {
		t.Errorf("workspace Location = %q, want /v1/workspaces/%s", loc, ws.JSON201.ID)
	}

	// A form, and a visitor's JSON submission to it, which the owner lists.
	form := expect(owner.CreateFormWithResponse(ctx, "docs", nil, client.FormInput{
		Name: "Contact",
		Fields: &[]client.FormField{
			{Name: "email", Type: client.FormFieldType("email"), Required: ptr(true)},
			{Name: "message", Type: client.FormFieldType("textarea")},
		},
	}))(t, "create form", 201)
	// The visitor's program retries with the same Idempotency-Key, as after
	// a lost answer: the retry replays the first answer and stores nothing.
	values := client.SubmissionValues{"email": "Bob@Example.com", "message": "Hello"}
	once := &client.SubmitFormParams{IdempotencyKey: ptr("0b6e4c1e-8f1d-4b8e-9a57-2d7f0f3c9e41")}
	sub := expect(anon.SubmitFormWithResponse(ctx, form.JSON201.ID, once, values))(t, "submit", 201)
	retry := expect(anon.SubmitFormWithResponse(ctx, form.JSON201.ID, once, values))(t, "submit again", 201)
	if retry.JSON201.ID != sub.JSON201.ID || retry.HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry answered %s (Idempotent-Replayed %q), want the replay of %s", retry.Body, retry.HTTPResponse.Header.Get("Idempotent-Replayed"), sub.Body)
	}
	subs := expect(owner.ListSubmissionsWithResponse(ctx, "docs", form.JSON201.ID, nil))(t, "list submissions", 200)
	if len(subs.JSON200.Data) != 1 || subs.JSON200.Data[0].ID != sub.JSON201.ID {
		t.Fatalf("submissions = %s, want %s", subs.Body, sub.JSON201.ID)
	}
	// A value is a string, or an array of strings for a multiselect.
	if got, err := subs.JSON200.Data[0].Values["email"].AsSubmissionValues0(); err != nil || got != "Bob@example.com" {
		t.Fatalf("submissions = %s, want %s with its e-mail domain lower-cased", subs.Body, sub.JSON201.ID)
	}

	// A post, published on its ETag and read by anyone on the site API.
	entry := expect(owner.CreateEntryWithResponse(ctx, "docs", nil, client.EntryInput{
		Kind: client.EntryKind("post"), Title: "Crème brûlée", Body: ptr("# Hello\n\nFirst *post*."),
	}))(t, "create entry", 201)
	etag := entry.HTTPResponse.Header.Get("ETag")
	expect(owner.PublishEntryWithResponse(ctx, "docs", entry.JSON201.ID, &client.PublishEntryParams{IfMatch: &etag}, client.PublishEntryJSONRequestBody{}))(t, "publish", 200)
	post := expect(anon.GetSitePostWithResponse(ctx, "docs", entry.JSON201.Slug, nil))(t, "read post", 200)
	if post.JSON200.Title != "Crème brûlée" || post.JSON200.BodyHTML == nil || !strings.Contains(*post.JSON200.BodyHTML, "<h1>Hello</h1>") {
		t.Fatalf("public post = %s", post.Body)
	}

	// The change feed holds each change, oldest first.
	feed := expect(owner.ListEventsWithResponse(ctx, "docs", nil))(t, "events", 200)
	var types []string
	for _, e := range feed.JSON200.Data {
		types = append(types, string(e.Type))
	}
	for _, want := range []string{"form.created", "submission.created", "post.published"} {
		if !slices.Contains(types, want) {
			t.Errorf("feed %v lacks %s", types, want)
		}
	}
	if i, j := slices.Index(types, "form.created"), slices.Index(types, "post.published"); i > j {
		t.Errorf("feed %v lists post.published before form.created", types)
	}

	// An API key reads content and sees what it is, but not forms.
	key := expect(owner.CreateAPIKeyWithResponse(ctx, "docs", nil, client.CreateAPIKeyJSONRequestBody{
		Name: "build", Scopes: []client.Scope{client.Scope("content:read")},
	}))(t, "create API key", 201)
	program := newClient(t, p.URL, key.JSON201.Key)
	current := expect(program.GetCurrentAPIKeyWithResponse(ctx))(t, "current key", 200)
	if current.JSON200.Workspace.Slug != "docs" || !slices.Equal(current.JSON200.Scopes, []client.Scope{"content:read"}) {
		t.Errorf("current key = %s, want docs with content:read", current.Body)
	}
	entries := expect(program.ListEntriesWithResponse(ctx, "docs", nil))(t, "list entries with the key", 200)
	if len(entries.JSON200.Data) != 1 || entries.JSON200.Data[0].ID != entry.JSON201.ID {
		t.Errorf("entries = %s, want %s", entries.Body, entry.JSON201.ID)
	}
	denied := expect(program.ListFormsWithResponse(ctx, "docs", nil))(t, "list forms with the key", 403)
	if denied.ApplicationProblemJSON403 == nil || denied.ApplicationProblemJSON403.Code != "forbidden" {
		t.Errorf("forms with a content key = %s, want 403 forbidden", denied.Body)
	}
}
