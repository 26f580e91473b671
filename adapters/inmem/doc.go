// Package inmem holds in-memory implementations of Keel's ports for use-case
// and HTTP tests. They pass the same contract suites as the real adapters,
// so a test that passes against them says something about production.
package inmem
