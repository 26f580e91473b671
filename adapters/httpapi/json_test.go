package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/keelhq/keel/domain"
)

func TestDecodeJSONNamesEveryFieldAtFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dst  any
		body string
		code string
		want []domain.FieldError // Message is checked to contain want's
	}{
		{"unknown top-level field", &createEntryRequest{}, `{"title":"x","lang":"fr"}`, "unknown_field",
			[]domain.FieldError{{Field: "lang", Code: "unknown_field"}}},
		{"every unknown field, in order, with its path", &formRequest{},
			`{"nmae":"x","fields":[{"name":"a"},{"name":"b"},{"name":"c","lenght":3}],"notify":{"subjet":"s"}}`, "unknown_field",
			[]domain.FieldError{{Field: "nmae", Code: "unknown_field"}, {Field: "fields[2].lenght", Code: "unknown_field"}, {Field: "notify.subjet", Code: "unknown_field"}}},
		{"inside PATCH members", &formPatch{}, `{"notify":{"subjet":"x"},"fields":[{"name":"a","requird":true}]}`, "unknown_field",
			[]domain.FieldError{{Field: "notify.subjet", Code: "unknown_field"}, {Field: "fields[0].requird", Code: "unknown_field"}}},
		{"wrong type names the expected one", &createEntryRequest{}, `{"title":123}`, "invalid_type",
			[]domain.FieldError{{Field: "title", Code: "invalid_type", Message: "Expected a string, not a number."}}},
		{"wrong types at depth", &formRequest{}, `{"fields":[{"name":"a","required":"yes","max_length":1.5}],"seo":1}`, "validation_failed",
			[]domain.FieldError{{Field: "fields[0].required", Code: "invalid_type", Message: "Expected a boolean, not a string."},
				{Field: "fields[0].max_length", Code: "invalid_type", Message: "integer"}, {Field: "seo", Code: "unknown_field"}}},
		{"wrong type inside a PATCH member", &webhookPatch{}, `{"enabled":"yes","events":"*"}`, "invalid_type",
			[]domain.FieldError{{Field: "enabled", Code: "invalid_type", Message: "Expected a boolean"}, {Field: "events", Code: "invalid_type", Message: "Expected an array"}}},
		{"a timestamp that is not one", &publishRequest{}, `{"publish_at":"tomorrow"}`, "invalid_type",
			[]domain.FieldError{{Field: "publish_at", Code: "invalid_type", Message: "RFC 3339"}}},
		{"a long name is cut", &seoDTO{}, `{"` + strings.Repeat("é", 80) + `":1}`, "unknown_field",
			[]domain.FieldError{{Field: strings.Repeat("é", 50) + "…", Code: "unknown_field"}}},
		{"an integer out of range", &formPatch{}, `{"retention_days":1e30}`, "invalid_type",
			[]domain.FieldError{{Field: "retention_days", Code: "invalid_type", Message: "integer"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var de *domain.Error
			if err := decodeBytes([]byte(tt.body), tt.dst); !errors.As(err, &de) {
				t.Fatalf("decode %s: err = %v, want a *domain.Error", tt.body, err)
			}
			if de.Kind != domain.KindInvalid || de.Code != tt.code || statusOf(de) != http.StatusUnprocessableEntity {
				t.Errorf("decode %s: %s (kind %v), want %s 422", tt.body, de.Code, de.Kind, tt.code)
			}
			if len(de.Fields) != len(tt.want) {
				t.Fatalf("decode %s: fields %+v, want %+v", tt.body, de.Fields, tt.want)
			}
			for i, f := range de.Fields {
				w := tt.want[i]
				if f.Field != w.Field || f.Code != w.Code || !strings.Contains(f.Message, w.Message) {
					t.Errorf("decode %s: field %d = %+v, want %+v", tt.body, i, f, w)
				}
			}
		})
	}
}

func TestDecodeJSONAcceptsWhatEncodingJSONAccepts(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"Title":"case-insensitive, as encoding/json matches"}`,
		`{"title":null,"tags":null,"seo":{"title":"t"}}`,
		`null`,
	} {
		var req createEntryRequest
		if err := decodeBytes([]byte(body), &req); err != nil {
			t.Errorf("decode %s: %v", body, err)
		}
	}
	var p formPatch
	if err := decodeBytes([]byte(`{"notify":null,"retention_days":30}`), &p); err != nil || !p.Notify.Null || p.RetentionDays.V != 30 {
		t.Errorf("decode formPatch: %+v, %v", p, err)
	}
}

func TestDecodeJSONBoundsTheFieldsItReports(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("{")
	for i := range 200 {
		fmt.Fprintf(&b, `"f%d":1,`, i)
	}
	b.WriteString(`"title":"x"}`)
	var de *domain.Error
	if err := decodeBytes([]byte(b.String()), &createEntryRequest{}); !errors.As(err, &de) || de.Code != "unknown_field" {
		t.Fatalf("err = %v, want unknown_field", err)
	}
	if len(de.Fields) != maxFieldErrors || de.Fields[0].Field != "f0" {
		t.Errorf("reported %d fields starting with %+v, want %d from f0", len(de.Fields), de.Fields[0], maxFieldErrors)
	}
}

func TestDecodeJSONMalformedGivesTheOffset(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, detail string }{
		{`{"title" "x"}`, "after object key at byte 9."},
		{`{"title":`, "ends inside a value at byte 9."},
		{`{} {}`, "more follows at byte 3."},
		{`{}  x`, "more follows at byte 4."},
		{``, "empty"},
		{`["title"]`, "must be an object, not an array"},
	}
	for _, tt := range tests {
		var de *domain.Error
		if err := decodeBytes([]byte(tt.body), &createEntryRequest{}); !errors.As(err, &de) || de.Code != "malformed_json" {
			t.Errorf("decode %q: err = %v, want malformed_json", tt.body, err)
			continue
		}
		if !strings.Contains(de.Message, tt.detail) || statusOf(de) != http.StatusBadRequest {
			t.Errorf("decode %q: %d %q, want 400 with %q", tt.body, statusOf(de), de.Message, tt.detail)
		}
	}
}

func TestUnknownFieldsOverHTTP(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	p := decodeProblem(t, f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/entries", map[string]any{"kind": "post", "title": "x", "lang": "fr", "tilte": "y"}),
		http.StatusUnprocessableEntity, "unknown_field")
	if got := []string{p.Errors[0].Field, p.Errors[1].Field}; len(p.Errors) != 2 || !slices.Contains(got, "lang") || !slices.Contains(got, "tilte") ||
		!strings.Contains(p.Detail, "lang") {
		t.Errorf("problem = %+v, want lang and tilte named", p)
	}
	p = decodeProblem(t, f.invalid().api(t, http.MethodPost, "/v1/workspaces/acme/entries", map[string]any{"kind": "post", "title": 123}),
		http.StatusUnprocessableEntity, "invalid_type")
	if len(p.Errors) != 1 || p.Errors[0].Field != "title" || !strings.Contains(p.Errors[0].Message, "a string") {
		t.Errorf("problem = %+v, want title expected a string", p)
	}
}

func TestOptionalBodyMayBeEmptyJSON(t *testing.T) {
	f := newFormsFixture(t, fixtureOptions{})
	e := f.createEntry(t, map[string]any{"kind": "post", "title": "Empty bodies"})
	path := "/v1/workspaces/acme/entries/" + e.ID
	for _, step := range []struct {
		action        string
		contentLength int64 // -1: chunked, length unknown until read
	}{{"publish", 0}, {"unpublish", -1}, {"publish", -1}, {"unpublish", 0}} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path+"/"+step.action, http.NoBody)
		req.ContentLength = step.contentLength
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+f.token)
		if w := f.serve(req); w.Code != http.StatusOK {
			t.Fatalf("%s with an empty application/json body (length %d): %d %s", step.action, step.contentLength, w.Code, w.Body)
		}
	}
	// A body that is required may not be empty.
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/workspaces/acme/entries", http.NoBody)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.token)
	decodeProblem(t, f.invalid().serve(req), http.StatusBadRequest, "malformed_json")
}

// FuzzDecodeJSON: any body decodes or is refused as a 400 or a 422, with
// at most maxFieldErrors fields; the walk never panics and finds a field at
// fault in every valid JSON body the decoder refuses.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"x","fields":[{"name":"a","lenght":3,"min":"1"}],"notify":{"recipients":[1]}}`,
		`{"notify":null,"autoresponder":{"enabled":"no"},"retention_days":1.5,"x":{"y":[]}}`,
		`{"fields":[[]],"allowed_origins":{},"NAME":"x"}`, `{"fields":[{"min":1e999}]}`, `[]`, `"x"`, `1e999`, `{"a":`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dst := range []any{&formRequest{}, &formPatch{}, &createEntryRequest{}, &publishRequest{}} {
			err := decodeBytes(body, dst)
			if err == nil {
				continue
			}
			var de *domain.Error
			if !errors.As(err, &de) {
				t.Fatalf("decode %q: %v is not a *domain.Error", body, err)
			}
			switch s := statusOf(de); {
			case de.Message == errUnexplained.Message:
				t.Fatalf("decode %q: the walk found no field at fault in %v", body, de)
			case s == http.StatusBadRequest && de.Code == "malformed_json":
			case s == http.StatusUnprocessableEntity && len(de.Fields) > 0 && len(de.Fields) <= maxFieldErrors:
			default:
				t.Fatalf("decode %q: %d %s %+v", body, s, de.Code, de.Fields)
			}
		}
	})
}
