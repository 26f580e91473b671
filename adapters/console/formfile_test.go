package console

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/domain"
)

// TestFileFieldLimitsSurviveTheBuilder: a file field's limits, which only
// the API sets, come back unchanged from a round through the builder, and
// the embed snippet posts such a form as multipart with a file input.
func TestFileFieldLimitsSurviveTheBuilder(t *testing.T) {
	def := domain.FormInput{Name: "Jobs", Fields: []domain.Field{
		{Name: "email", Type: domain.FieldEmail},
		{Name: "cv", Type: domain.FieldFile, MaxFiles: 3, MaxFileSize: 2048, Accept: []string{"pdf", "office"}},
	}}
	d := editorFromDefinition(def)
	in, _, ok := d.input()
	if !ok || len(in.Fields) != 2 {
		t.Fatalf("input = %+v, %v", in, ok)
	}
	cv := in.Fields[1]
	if cv.Type != domain.FieldFile || cv.MaxFiles != 3 || cv.MaxFileSize != 2048 || !slices.Equal(cv.Accept, []string{"pdf", "office"}) {
		t.Fatalf("file field after the builder = %+v", cv)
	}
	f, err := domain.NewForm("ws_x", in, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	snippet := embedHTML(f, "https://keel.example/v1/forms/x/submissions", "", "", false)
	if !strings.Contains(snippet, `enctype="multipart/form-data"`) || !strings.Contains(snippet, `type="file" multiple>`) {
		t.Fatalf("snippet:\n%s", snippet)
	}
}
