// Package client is Keel's Go client for /v1, generated from the OpenAPI
// document (api/openapi.yaml) by oapi-codegen: models for every schema,
// and Client and ClientWithResponses with one method per operation. Do not
// edit client.gen.go; change the document and run make generate, which
// runs the go:generate line below. generate_test.go fails when the
// committed code differs from what the document generates.
//
// Keel's own end-to-end tests drive the server through this package
// (test/e2e/client_test.go), so what partners get is what is tested.
package client

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml -o client.gen.go ../api/openapi.yaml
