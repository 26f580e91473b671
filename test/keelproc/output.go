package keelproc

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// Output is an io.Writer for what keel writes: its JSON log lines and,
// with KEEL_TRACE_EXPORTER=stdout, the spans the OpenTelemetry stdout
// exporter prints one per line. It parses each line as it arrives, so a
// test can wait for a log message the moment it is written rather than
// sleep and look again.
//
// A Proc makes one for the binary's standard output; an in-process
// bootstrap.Run can be given one as both stdout and stderr.
type Output struct {
	mu      sync.Mutex
	partial []byte
	logs    []map[string]any
	spans   []span
	raw     strings.Builder // log lines only; spans would swamp it
	// more is closed, and replaced, whenever a log line arrives: Wait
	// blocks on it instead of polling.
	more chan struct{}
}

// span is the part of a stdouttrace span the tests read.
type span struct {
	Name       string
	Attributes []struct {
		Key   string
		Value struct{ Value any }
	}
}

// NewOutput returns an empty Output.
func NewOutput() *Output { return &Output{more: make(chan struct{})} }

// Write splits b into lines and parses each complete one; a line cut
// between two writes waits for the rest.
func (o *Output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.line(o.partial[:i])
		o.partial = o.partial[i+1:]
	}
	return len(b), nil
}

// flush parses a last line that ended without a newline; Proc calls it
// once the process has exited and can write no more.
func (o *Output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.partial) > 0 {
		o.line(o.partial)
		o.partial = nil
	}
}

func (o *Output) line(b []byte) {
	if bytes.HasPrefix(b, []byte(`{"Name":`)) {
		var s span
		if json.Unmarshal(b, &s) == nil {
			o.spans = append(o.spans, s)
		}
		return
	}
	o.raw.Write(b)
	o.raw.WriteByte('\n')
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		o.logs = append(o.logs, m)
		close(o.more)
		o.more = make(chan struct{})
	}
}

// Find returns the first log line whose msg is msg, or nil.
func (o *Output) Find(msg string) map[string]any {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.find(msg)
}

func (o *Output) find(msg string) map[string]any {
	for _, m := range o.logs {
		if m["msg"] == msg {
			return m
		}
	}
	return nil
}

// Count returns how many log lines have msg.
func (o *Output) Count(msg string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, m := range o.logs {
		if m["msg"] == msg {
			n++
		}
	}
	return n
}

// Wait returns the first log line whose msg is msg as soon as it is
// written. It returns nil when timeout passes first, or when done is
// closed first and the line has not come: done says that the writer has
// stopped (a nil done never closes).
func (o *Output) Wait(msg string, timeout time.Duration, done <-chan struct{}) map[string]any {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		o.mu.Lock()
		m, more := o.find(msg), o.more
		o.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-more:
		case <-done:
			return o.Find(msg)
		case <-timer.C:
			return nil
		}
	}
}

// SpanValues returns attribute key of every span named name whose
// attributes hold each of the pairs in where (name, value, ...), in the
// order the process exported them: the IDs of the messages a worker's
// messaging.Deliver spans say it sent, say. The process exports spans
// only with KEEL_TRACE_EXPORTER=stdout, and only those it samples.
func (o *Output) SpanValues(name, key string, where ...string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var values []string
spans:
	for _, s := range o.spans {
		if s.Name != name {
			continue
		}
		attrs := map[string]any{}
		for _, a := range s.Attributes {
			attrs[a.Key] = a.Value.Value
		}
		for i := 0; i+1 < len(where); i += 2 {
			if attrs[where[i]] != where[i+1] {
				continue spans
			}
		}
		v, _ := attrs[key].(string)
		values = append(values, v)
	}
	return values
}

// String returns every log line written so far, for failure messages.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.raw.String()
}

// SyncBuffer is a bytes.Buffer that a process's output copier and a test
// may use at once: Proc keeps stderr in one, and a test running another
// program beside keel (an example webhook receiver) can too.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
