// Package inmem holds in-memory doubles of the systems outside Keel, for
// use-case and HTTP tests: today the mailer, which keeps what it sends.
// Each double passes the same contract suite as the real adapter, so a
// test that passes against it says something about production. Storage
// has no double here: tests run on sqlstore over SQLite
// (adapters/sqlstore/sqlitetest).
package inmem
