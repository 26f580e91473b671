package nodes

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/keelhq/keel/adapters/ratelimit"
	"github.com/keelhq/keel/adapters/sqlstore"
	"github.com/keelhq/keel/domain"
	"github.com/keelhq/keel/ports"
	"github.com/keelhq/keel/test/containers"
	"github.com/keelhq/keel/test/testdb"
)

// redisGCRA is the shared limiter Keel would have used on Redis: the same
// GCRA as sqlstore's, one Lua script per check, atomic on the server, on
// the server's clock. KEYS[1] is the bucket; ARGV[1] the emission
// interval and ARGV[2] the tolerance (the bucket's span less one
// interval), in microseconds. It returns whether the request was allowed
// and how far the bucket's tat is ahead of now.
var redisGCRA = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tonumber(ARGV[2]) then
	return {0, tat - now}
end
local new = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], new, 'PX', math.ceil((new - now) / 1000))
return {1, new - now}
`)

// redisQuotas is ports.Quotas on redisGCRA, for the comparison only.
type redisQuotas struct{ c *redis.Client }

func (q redisQuotas) Use(ctx context.Context, key string, quota domain.Quota) domain.QuotaUse {
	w := quota.Window.Microseconds()
	t := max(w/int64(quota.Limit), 1)
	res, err := redisGCRA.Run(ctx, q.c, []string{"api:" + key}, t, w-t).Int64Slice()
	if err != nil {
		return domain.QuotaUse{Allowed: true}
	}
	ahead := res[1]
	u := domain.QuotaUse{Allowed: res[0] == 1, Reset: time.Duration(ahead) * time.Microsecond}
	if u.Allowed {
		u.Remaining = int((w - ahead) / t)
	} else {
		u.RetryAfter = time.Duration(ahead-(w-t)) * time.Microsecond
	}
	return u
}

// startRedis runs the Redis image (local/redis:7 from Debian's package
// where no registry answers) on loopback and returns a client of it.
func startRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	ctx := context.Background()
	image := containers.RedisImage()
	if err := containers.RequireImage(ctx, image); err != nil {
		tb.Fatal(err)
	}
	ctr, err := testcontainers.Run(ctx, image,
		containers.LoopbackPorts("6379/tcp"), containers.ProcessLabel(),
		testcontainers.WithExposedPorts("6379/tcp"),
		testcontainers.WithWaitStrategy(wait.ForListeningPort("6379/tcp").SkipInternalCheck()))
	testcontainers.CleanupContainer(tb, ctr)
	if err != nil {
		tb.Fatalf("start redis: %v", err)
	}
	addr, err := ctr.PortEndpoint(ctx, "6379/tcp", "")
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 20})
	tb.Cleanup(func() { _ = c.Close() })
	for deadline := time.Now().Add(30 * time.Second); c.Ping(ctx).Err() != nil; {
		if time.Now().After(deadline) {
			tb.Fatalf("redis at %s does not answer PING", addr)
		}
	}
	return c
}

// sharedQuotas opens a pool on a new migrated PostgreSQL database and
// returns its shared quotas.
func sharedQuotas(tb testing.TB) ports.Quotas {
	tb.Helper()
	db, err := sqlstore.Open(context.Background(), testdb.Postgres(tb, testdb.MigrateKeel))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	l, err := db.SharedLimits(func(err error) { tb.Errorf("shared check failed: %v", err) })
	if err != nil {
		tb.Fatal(err)
	}
	return l.Quotas("api")
}

// TestRedisQuotasMatchPostgres: the Redis limiter of the comparison limits
// as the PostgreSQL one does, so that the benchmark compares like with
// like: a quota of 10 allows 10 and refuses the 11th, with the same
// Remaining, on both.
func TestRedisQuotasMatchPostgres(t *testing.T) {
	stores := map[string]ports.Quotas{"postgres": sharedQuotas(t), "redis": redisQuotas{startRedis(t)}}
	for name, q := range stores {
		for i := range 11 {
			u := q.Use(t.Context(), "k", domain.PerMinute(10))
			if u.Allowed != (i < 10) || (u.Allowed && u.Remaining != 9-i) {
				t.Fatalf("%s: request %d: %+v", name, i+1, u)
			}
		}
	}
}

// BenchmarkSharedLimits measures one check of a quota on each store that
// could hold the limits every node shares, from 16 goroutines at once (a
// node's concurrent requests): PostgreSQL (sqlstore's UPSERT on UNLOGGED
// rows), Redis (a Lua script) and, as the floor, this process's memory.
// "one-key" sends every check to one bucket, as a hot form or a busy API
// key does; "many-keys" spreads them over 10,000, as many clients do. It
// reports checks/s and the 99th percentile of one check's time.
//
//	go test ./test/nodes -run '^$' -bench SharedLimits -benchtime 3s
func BenchmarkSharedLimits(b *testing.B) {
	stores := []struct {
		name string
		q    ports.Quotas
	}{
		{"local", ratelimit.NewQuotas(nil)},
		{"postgres", sharedQuotas(b)},
		{"redis", redisQuotas{startRedis(b)}},
	}
	quota := domain.PerMinute(1_000_000_000) // never refuses: every check does the whole work
	for _, s := range stores {
		for _, keys := range []int{1, 10_000} {
			name := "one-key"
			if keys > 1 {
				name = "many-keys"
			}
			b.Run(s.name+"/"+name, func(b *testing.B) {
				b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
				var mu sync.Mutex
				var all []time.Duration
				var seq int64
				var seqMu sync.Mutex
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					seqMu.Lock()
					seq++
					g := seq
					seqMu.Unlock()
					var mine []time.Duration
					for i := g * 7919; pb.Next(); i++ {
						key := "k"
						if keys > 1 {
							key = "k" + strconv.FormatInt(i%int64(keys), 10)
						}
						start := time.Now()
						if u := s.q.Use(context.Background(), key, quota); !u.Allowed {
							b.Errorf("%s refused a check under a quota it cannot exhaust: %+v", s.name, u)
						}
						mine = append(mine, time.Since(start))
					}
					mu.Lock()
					all = append(all, mine...)
					mu.Unlock()
				})
				b.StopTimer()
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(all[len(all)*99/100])/float64(time.Microsecond), "p99-µs")
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
			})
		}
	}
}
