package bootstrap

import (
	"bytes"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
)

// The blob keys are read from a table's dump however its writes split
// its lines, and the dump reaches the archive unchanged.
func TestBlobRefsFromDumps(t *testing.T) {
	dumps := map[string]string{
		"media": `{"blob_key":"media/ws_a/med_1/original","id":"med_1","variants":"320,640","workspace_id":"ws_A"}` + "\n" +
			`{"blob_key":"media/ws_a/med_2/original","id":"med_2","variants":"","workspace_id":"ws_A"}` + "\n",
		"submissions": `{"field_values":"[{\"field\":\"n\",\"values\":[\"x\"]}]","id":"sub_1"}` + "\n" +
			`{"field_values":"[{\"field\":\"cv\",\"values\":[],\"files\":[{\"name\":\"a.pdf\",\"type\":\"application/pdf\",\"size\":3,\"key\":\"submissions/ws_a/sub_2/1\"},{\"name\":\"b.pdf\",\"type\":\"application/pdf\",\"size\":3,\"key\":\"submissions/ws_a/sub_2/2\"}]}]","id":"sub_2"}` + "\n",
		"users": `{"id":"usr_1","blob_key":"not/a/blob"}` + "\n",
	}
	for _, chunk := range []int{1, 7, 1 << 20} {
		refs := blobRefSet{}
		for name, dump := range dumps {
			var out bytes.Buffer
			n, err := refs.scan(name, func(w io.Writer) (int64, error) {
				for s := dump; s != ""; {
					k := min(chunk, len(s))
					if _, err := io.WriteString(w, s[:k]); err != nil {
						return 0, err
					}
					s = s[k:]
				}
				return int64(strings.Count(dump, "\n")), nil
			})(&out)
			if err != nil || n != int64(strings.Count(dump, "\n")) || out.String() != dump {
				t.Fatalf("chunks of %d: %s: %d rows, %v; the dump passed changed: %v", chunk, name, n, err, out.String() != dump)
			}
		}
		want := []string{"media/ws_a/med_1/original", "media/ws_a/med_1/w320", "media/ws_a/med_1/w640", "media/ws_a/med_2/original",
			"submissions/ws_a/sub_2/1", "submissions/ws_a/sub_2/2"}
		if got := slices.Sorted(maps.Keys(refs)); !slices.Equal(got, want) {
			t.Errorf("chunks of %d: keys %v, want %v", chunk, got, want)
		}
	}
}

// A row of a table that names blobs and cannot be read fails the backup
// rather than leave its files out unnoticed.
func TestBlobRefsRefuseAnUnreadableRow(t *testing.T) {
	refs := blobRefSet{}
	_, err := refs.scan("media", func(w io.Writer) (int64, error) {
		_, err := io.WriteString(w, `{"blob_key":"media/ws_a/med_1/original","id":"med_1","variants":"wide"}`+"\n")
		return 1, err
	})(io.Discard)
	if err == nil || !strings.Contains(err.Error(), "media") {
		t.Fatalf("got %v, want an error naming media", err)
	}
}
