// Package conformance is syncspace's black-box SPEC conformance suite. Its tests build
// the three binaries (syncd, syncctl, realtime-sync-client) with `go build` into a
// temporary directory and drive them as a user or a script would: subprocesses with
// flags, environment and umask, real HTTP against a running syncd, and gorilla
// WebSocket clients. Each test names the SPEC section it checks; the package holds no
// production code.
//
// Run it with
//
//	go test -race -timeout 300s ./cmd/syncd/conformance/
package conformance
