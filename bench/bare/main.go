// Command bare is the ceiling Keel's load scenarios compare against: a bare
// net/http server on the same machine, answering the same paths with
// bodies of the same size and type as Keel's, with no router, middleware
// or logging. Whatever Keel's throughput lacks against it is what Keel's
// own layers cost.
//
// It prints {"msg":"listening","addr":...} on stdout once it accepts
// connections, as keel serve does, so scripts/bench.sh can use port 0.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

// The bodies match Keel's byte for byte in length: GET /healthz answers 15
// bytes of JSON, an unknown path a 175-byte problem (trace ID included).
var (
	healthBody   = []byte(`{"status":"ok"}`)
	notFoundBody = []byte(`{"type":"urn:keel:problem:not_found","title":"Not Found","status":404,"detail":"No route matches this path.","code":"not_found","trace_id":"00000000000000000000000000000000"}` + "\n")
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (host:port; port 0 picks a free one)")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(map[string]string{"msg": "listening", "addr": ln.Addr().String()})
	fmt.Println(string(line))

	healthLen := strconv.Itoa(len(healthBody))
	notFoundLen := strconv.Itoa(len(notFoundBody))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Content-Length", healthLen)
			_, _ = w.Write(healthBody)
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Content-Length", notFoundLen)
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write(notFoundBody)
	})
	if err := http.Serve(ln, h); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}
