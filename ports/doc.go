// Package ports declares the interfaces Keel's core owns, and nothing else.
//
// Ports are the contracts the application layer needs from the outside world
// (storage, mail, authorization, time), written in the core's own terms. They
// are not HTTP handlers or other inbound adapters: those live in adapters/ and
// call the application. Ports import only domain, so any adapter (SQLite,
// PostgreSQL, SMTP, an in-memory fake) can implement them, and every
// implementation must pass the matching contract suite in ports/porttest.
package ports
