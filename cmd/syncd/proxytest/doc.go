// Package proxytest holds end-to-end tests of syncd behind a real nginx on loopback,
// set up as docs/DEPLOY.md tells users to: the shipped docs/deploy/syncd.nginx.conf
// (TLS and HTTP/2 at the proxy, WebSockets, streamed uploads, X-Forwarded-For for
// trusted_proxies), and a bare proxy that rewrites Host. The package has no
// non-test code; its tests skip without nginx (see config/servicetest).
package proxytest
