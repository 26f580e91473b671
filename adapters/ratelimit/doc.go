// Package ratelimit implements ports.RateLimiter, ports.Quotas and
// ports.FailureLimiter in the process's memory: a token bucket per key
// (RateLimiter, and Quotas, whose calls name each bucket's quota) and an
// exponential backoff per key (Backoff). Each node limits on its own.
package ratelimit
