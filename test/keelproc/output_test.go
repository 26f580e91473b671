package keelproc

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestWaitReturnsTheLine checks that Wait returns the line whose msg it
// waits for, written in two pieces, long before its timeout. Whether it
// wakes on a line written while it waits is TestServeAndStop's to show:
// here the writes may come first.
func TestWaitReturnsTheLine(t *testing.T) {
	t.Parallel()
	o := NewOutput()
	got := make(chan map[string]any, 1)
	go func() { got <- o.Wait("listening", time.Minute, nil) }()
	fmt.Fprintln(o, `{"msg":"starting"}`)
	fmt.Fprint(o, `{"msg":"listening",`)
	fmt.Fprintln(o, `"addr":"127.0.0.1:4000"}`)
	select {
	case line := <-got:
		if line["addr"] != "127.0.0.1:4000" {
			t.Fatalf("Wait = %v, want the listening line", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return within 10s of the line")
	}
	if n := o.Count("listening"); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
}

// TestWaitGivesUpWhenTheWriterStops checks that a writer that has stopped
// ends the wait at once, and that a last line without a newline counts.
func TestWaitGivesUpWhenTheWriterStops(t *testing.T) {
	t.Parallel()
	o := NewOutput()
	done := make(chan struct{})
	fmt.Fprint(o, `{"msg":"stopped"}`)
	o.flush()
	close(done)
	if line := o.Wait("listening", time.Minute, done); line != nil {
		t.Fatalf("Wait = %v, want nil", line)
	}
	if o.Wait("stopped", time.Minute, done) == nil {
		t.Fatal("the flushed last line was not found")
	}
	if line := o.Wait("listening", time.Millisecond, nil); line != nil {
		t.Fatalf("Wait after its timeout = %v, want nil", line)
	}
}

// TestSpansAreNotLogLines checks that stdouttrace spans are kept apart,
// by name, and stay out of the log lines a failure message shows.
func TestSpansAreNotLogLines(t *testing.T) {
	t.Parallel()
	o := NewOutput()
	deliver := func(id, status string) string {
		return `{"Name":"messaging.Deliver","Attributes":[{"Key":"keel.message.id","Value":{"Type":"STRING","Value":"` + id +
			`"}},{"Key":"keel.message.status","Value":{"Type":"STRING","Value":"` + status + `"}}]}`
	}
	fmt.Fprintln(o, deliver("msg_1", "sent"))
	fmt.Fprintln(o, deliver("msg_2", "failed"))
	fmt.Fprintln(o, `{"Name":"sql.query","Attributes":[{"Key":"keel.message.status","Value":{"Type":"STRING","Value":"sent"}}]}`)
	fmt.Fprintln(o, `{"msg":"delivering mail"}`)
	fmt.Fprintln(o, deliver("msg_3", "sent"))
	if got := o.SpanValues("messaging.Deliver", "keel.message.id", "keel.message.status", "sent"); !slices.Equal(got, []string{"msg_1", "msg_3"}) {
		t.Fatalf("SpanValues = %v, want [msg_1 msg_3]", got)
	}
	if got := o.String(); got != "{\"msg\":\"delivering mail\"}\n" {
		t.Errorf("String = %q, want the log line only", got)
	}
	if o.Find("delivering mail") == nil || o.Count("delivering mail") != 1 {
		t.Error("the log line after the spans was not parsed")
	}
}
