package messaging_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/adapters/inmem"
	"github.com/keelhq/keel/application/messaging"
	"github.com/keelhq/keel/domain"
)

// unevenMailer answers like a remote relay: most messages in 2 ms, one in
// twenty in 40 ms.
type unevenMailer struct {
	*inmem.Mailer
	n atomic.Int64
}

func (u *unevenMailer) Send(ctx context.Context, m domain.Message) error {
	d := 2 * time.Millisecond
	if u.n.Add(1)%20 == 0 {
		d = 40 * time.Millisecond
	}
	time.Sleep(d)
	return u.Mailer.Send(ctx, m)
}

// BenchmarkRunUnevenRelay measures how many messages a second Run delivers
// with the default concurrency through a relay with uneven answer times:
// the slow answers bound a dispatcher that waits for whole batches.
func BenchmarkRunUnevenRelay(b *testing.B) {
	const submissions = 200 // 400 messages a round
	var sent int
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := newFixture(b)
		for j := range submissions {
			f.submit(b, fmt.Sprintf("visitor%d@example.com", j), "")
		}
		d := f.dispatcher(b, messaging.DispatcherConfig{Mailer: &unevenMailer{Mailer: f.mailer}})
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- d.Run(ctx) }()
		for len(f.mailer.Sent()) < 2*submissions {
			time.Sleep(100 * time.Microsecond)
		}
		elapsed += time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		sent += 2 * submissions
	}
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "msg/s")
}
