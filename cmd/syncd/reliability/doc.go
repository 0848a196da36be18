// Package reliability holds syncspace's reliability and security suite (issue 7): a
// crash test that SIGKILLs a syncd subprocess during concurrent writes, a convergence
// soak with four realtime-sync-client processes under disconnects, kills and a server
// restart, a WebSocket load test, abuse tests (slowloris, failed authentications,
// socket and ping floods, an oversized upload) with a latency probe of another tenant,
// and fuzz targets for decoders of outside input reachable through exported APIs.
//
// Everything is in _test.go files; the package itself exports nothing. By default each
// test runs a short slice fit for CI (about two minutes in all on two cores, under four when loaded); flags
// select the long forms:
//
//	go test -race -timeout 300s ./cmd/syncd/reliability/                      # CI slice
//	go test -race -timeout 30m ./cmd/syncd/reliability/ -run TestCrash -crash-rounds=10
//	go test -race -timeout 30m ./cmd/syncd/reliability/ -run TestSoak -soak=10m
//	go test -timeout 30m ./cmd/syncd/reliability/ -run TestLoad -load=5m       # no -race: 10,000 sockets
//	go test -race -timeout 30m ./cmd/syncd/reliability/ -run TestAbuse -abuse-full
//
// .ci/fuzz runs the fuzz targets (FuzzServerRequest, FuzzWebSocketSession,
// FuzzClientServerFeed, FuzzClientEvents, FuzzParseServer) beyond their seeds. With
// -short every test here is skipped; -reliability-logs prints syncd's logs. See
// docs/SECURITY.md for the threat model these tests back.
package reliability
