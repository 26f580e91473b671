// Package domain holds Keel's business types and rules: values that are
// valid from birth, entities with unexported fields, and the one error
// taxonomy every layer speaks. It imports only the standard library, so the
// rules here can be tested and reused without a database, a network or a
// framework.
package domain
