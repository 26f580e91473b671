// Package ratelimit implements ports.RateLimiter and ports.FailureLimiter in
// the process's memory: a token bucket per key (RateLimiter) and an
// exponential backoff per key (Backoff). Each node limits on its own.
package ratelimit
