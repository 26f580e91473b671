package e2e

import (
	"io"
	"net/http"
	"time"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

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
