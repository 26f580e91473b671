package smtpmail

import "time"

// SetIdleTimeout makes m close sessions idle for d, so that tests need not
// wait the default 30 s.
func SetIdleTimeout(m *Mailer, d time.Duration) { m.pool = newPool(maxIdle, d) }
