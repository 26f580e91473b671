// Command webhook-receiver receives Keel's webhooks and verifies each one
// with the Standard Webhooks library before trusting it.
//
//	KEEL_WEBHOOK_SECRET=whsec_… LISTEN_ADDR=127.0.0.1:8000 go run ./examples/webhook-receiver
//
// It prints "verified <webhook-id> <type>" for each new event and
// "duplicate <webhook-id>" for an event it has already processed: Keel
// delivers at least once, and a delivery repeated after a crash or a
// redelivery carries the same webhook-id.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	wh, err := standardwebhooks.NewWebhook(os.Getenv("KEEL_WEBHOOK_SECRET"))
	if err != nil {
		log.Fatalf("KEEL_WEBHOOK_SECRET: %v", err)
	}
	addr := os.Getenv("LISTEN_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8000"
	}

	// A real receiver keeps the IDs it has processed in its database,
	// for longer than Keel retries (about three days).
	var mu sync.Mutex
	seen := map[string]bool{}

	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		// Verify checks the signature over webhook-id, webhook-timestamp
		// and the exact body bytes, and refuses a timestamp more than
		// five minutes away, so a captured request cannot be replayed.
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "invalid signature", http.StatusBadRequest)
			return
		}
		var event struct {
			ID        string          `json:"id"`
			Type      string          `json:"type"`
			Workspace string          `json:"workspace"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "invalid JSON", http.StatusBadRequest)
			return
		}
		id := r.Header.Get("webhook-id")
		mu.Lock()
		dup := seen[id]
		seen[id] = true
		mu.Unlock()
		if dup {
			fmt.Println("duplicate", id)
		} else {
			// Act on the event here; answer quickly, within 10 s, and
			// queue long work.
			fmt.Println("verified", id, event.Type)
		}
		w.WriteHeader(http.StatusNoContent)
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
