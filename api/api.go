// Package api holds Keel's HTTP contract: the OpenAPI 3.1 document that
// describes every /v1 operation, written by hand and kept true by the
// tests (see README, "API contract"). The binary embeds it to serve it;
// validation against it is test-only (api/openapitest), so that nothing
// here links an OpenAPI library into production.
package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var document []byte

// YAML returns the document as written. Callers must not modify it.
func YAML() []byte { return document }

var (
	jsonOnce sync.Once
	jsonDoc  []byte
	jsonErr  error
)

// JSON returns the document converted to JSON once, members in the order
// the YAML gives them, so that both spellings read alike. Callers must not
// modify it. The error is only ever a malformed document, which the
// package's tests refuse before it could ship.
func JSON() ([]byte, error) {
	jsonOnce.Do(func() { jsonDoc, jsonErr = ToJSON(document) })
	return jsonDoc, jsonErr
}

// ToJSON converts one YAML document to JSON, keeping the order of mapping
// keys. It accepts only what JSON can say: string keys, no aliases to
// cycles, and scalars that resolve to strings, numbers, booleans or null.
func ToJSON(src []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var root, more yaml.Node
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("parse OpenAPI document: %w", err)
	}
	if err := dec.Decode(&more); err != io.EOF || root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, fmt.Errorf("parse OpenAPI document: want exactly one YAML document")
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, root.Content[0], 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxDepth bounds aliases that would otherwise expand without end.
const maxDepth = 100

func writeJSON(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("line %d: nested deeper than %d", n.Line, maxDepth)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias, depth+1)
	case yaml.MappingNode:
		buf.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return fmt.Errorf("line %d: a key must be a plain scalar", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeValue(buf, k.Value, k.Line); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeJSON(buf, v, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, v := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, v, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	default:
		return fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	return nil
}

func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	var v any
	switch n.ShortTag() {
	case "!!null", "!!bool", "!!int", "!!float":
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
	case "!!str":
		v = n.Value
	default:
		return fmt.Errorf("line %d: unsupported YAML tag %s", n.Line, n.ShortTag())
	}
	return writeValue(buf, v, n.Line)
}

// writeValue writes one JSON value without escaping <, > and &, which the
// document's descriptions use and a reader should see as written.
func writeValue(buf *bytes.Buffer, v any, line int) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("line %d: %w", line, err)
	}
	buf.Truncate(buf.Len() - 1) // Encode ends each value with a newline.
	return nil
}
