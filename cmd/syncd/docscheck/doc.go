// Package docscheck holds no code: its tests keep the reference that ships with the
// repository true to the code. They check that every relative link in README.md and
// docs/*.md resolves, that every key the config package accepts is in docs/CONFIG.md
// and every example config there loads, that every route syncd registers is in
// docs/API.md, that every `file:function` hop of docs/ARCHITECTURE.md's hop tables is
// declared in that file, that every flag the three binaries parse is in their -h and
// in docs/CLI.md (and every syncctl command), that the command lines of the docs'
// examples use only flags the binaries accept, that every error code is in docs/API.md's
// table with its status and every WebSocket close code syncd sends in docs/websocket.md,
// that every package of the repository has a row in its
// package table (and every row names a package), that the systemd units of
// docs/deploy pass `systemd-analyze verify` (where it is installed), and that
// cmd/syncd/Dockerfile builds a static binary that runs as a non-root user with a
// volume and a health check (and, where a Docker daemon answers, that the image builds
// and becomes healthy).
package docscheck
