package ports

import "time"

// Clock tells the time. Use cases take it as a dependency so tests can fix
// "now" and step it forward.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock; ClockFunc(time.Now) is the real one.
type ClockFunc func() time.Time

func (f ClockFunc) Now() time.Time { return f() }
