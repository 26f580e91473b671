// Command barecontent is the ceiling of scripts/bench-content.sh: a bare
// net/http server that answers Keel's public content requests with the
// bytes Keel gave for them, headers included, read from files the script
// captured. It has no router, middleware, cache logic or log: a map lookup
// by request URI and a write. Whatever Keel's throughput lacks against it
// is what Keel's own layers cost.
//
// The manifest (-manifest) has one response a line: the request URI, the
// file of headers curl -D wrote for it and the file of its body, separated
// by tabs. Date is left to net/http, which sets it as Keel's server does.
// A request whose If-None-Match names the response's ETag gets 304 with the
// same headers, less Content-Type and Content-Length, as Keel's.
//
// It prints {"msg":"listening","addr":...} on stdout once it accepts
// connections, as keel serve does, so the script can use port 0.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strings"
)

type response struct {
	header, notModified http.Header
	body                []byte
	etag                string
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (host:port; port 0 picks a free one)")
	manifest := flag.String("manifest", "", "file of request URI, header file and body file, a tab-separated line each")
	flag.Parse()
	if *manifest == "" {
		fmt.Fprintln(os.Stderr, "usage: barecontent -manifest FILE [-addr HOST:PORT]")
		os.Exit(2)
	}
	responses, err := load(*manifest)
	if err != nil {
		fmt.Fprintln(os.Stderr, "barecontent:", err)
		os.Exit(1)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "barecontent:", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(map[string]any{"msg": "listening", "addr": ln.Addr().String(), "responses": len(responses)})
	fmt.Println(string(line))

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, ok := responses[r.URL.RequestURI()]
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		hd := w.Header()
		if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, res.etag) {
			for k, v := range res.notModified {
				hd[k] = v
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		for k, v := range res.header {
			hd[k] = v
		}
		_, _ = w.Write(res.body)
	})
	if err := http.Serve(ln, h); err != nil {
		fmt.Fprintln(os.Stderr, "barecontent:", err)
		os.Exit(1)
	}
}

// load reads the manifest and the files it names.
func load(manifest string) (map[string]*response, error) {
	b, err := os.ReadFile(manifest)
	if err != nil {
		return nil, err
	}
	out := map[string]*response{}
	for n, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want URI, header file and body file, tab-separated", manifest, n+1)
		}
		res, err := read(f[1], f[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", manifest, n+1, err)
		}
		out[f[0]] = res
	}
	return out, nil
}

// read parses a header dump of curl -D (a status line, then the fields)
// and reads the body it goes with.
func read(headerFile, bodyFile string) (*response, error) {
	raw, err := os.ReadFile(headerFile)
	if err != nil {
		return nil, err
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	status, err := tp.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", headerFile, err)
	}
	if !strings.Contains(status, " 200") {
		return nil, fmt.Errorf("%s: status %q, want 200", headerFile, status)
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", headerFile, err)
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return nil, err
	}
	res := &response{header: http.Header(mh), body: body, etag: mh.Get("ETag")}
	if res.etag == "" {
		return nil, errors.New(headerFile + ": no ETag")
	}
	res.header.Del("Date")
	res.notModified = res.header.Clone()
	res.notModified.Del("Content-Type")
	res.notModified.Del("Content-Length")
	return res, nil
}
