// Package application holds Keel's use cases, one package per bounded
// context. A use case authorizes the principal it is given, runs its
// domain logic inside one ports.UnitOfWork transaction and opens one span.
// Use cases import domain, ports, application/usecase and the OpenTelemetry
// API only: never adapters, HTTP, SQL or the telemetry SDK.
package application
