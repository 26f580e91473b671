package sqlstore

// QueuedTakes reports how many callers of s wait behind a statement in
// flight for their buckets.
func QueuedTakes(s *SharedLimits) int {
	s.takes.mu.Lock()
	defer s.takes.mu.Unlock()
	n := 0
	for _, q := range s.takes.busy {
		n += len(q)
	}
	return n
}
