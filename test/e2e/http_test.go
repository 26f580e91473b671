package e2e

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/keelhq/keel/api/openapitest"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

// checkedClient is httpClient with every exchange checked against the
// OpenAPI document: a request or response it does not describe fails t.
// A request that is wrong on purpose carries openapitest.InvalidHeader.
func checkedClient(t *testing.T) *http.Client {
	return &http.Client{Timeout: httpClient.Timeout, Transport: openapitest.Transport(t, nil)}
}

type response struct {
	resp *http.Response
	body []byte
}

func httpPost(url string, body io.Reader) (response, error) {
	resp, err := httpClient.Post(url, "application/json", body)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp, b}, err
}
