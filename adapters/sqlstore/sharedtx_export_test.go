package sqlstore

// SharedQueued is the number of calls waiting in db's queues of shared
// transactions: WithinSharedTx's on PostgreSQL, the group commit's on
// SQLite, where WithinSharedTx is WithinTx.
func SharedQueued(db *DB) int {
	if db.d.name() == "sqlite" {
		return queuedIn(&db.group)
	}
	n := 0
	for i := range db.shared {
		n += queuedIn(&db.shared[i])
	}
	return n
}

func queuedIn(g *group) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// OneSharedLane makes db run one shared transaction at a time, so that a
// test can queue calls into one batch behind another.
func OneSharedLane(db *DB) {
	if db.shared != nil {
		db.shared = db.shared[:1]
	}
}
