// Package v1 holds the wire types of the mcpd REST API (API group mcpctl/v1)
// and the validation rules that the server, the typed client and the CLI
// share. It imports nothing but the standard library so that every binary,
// the CLI included, can link it.
package v1
