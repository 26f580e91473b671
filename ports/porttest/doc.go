// Package porttest holds one contract suite per port. Every implementation
// of a port, the in-memory fakes included, runs the matching suite, so a
// fake that passes is as trustworthy in use-case tests as the real adapter.
package porttest
