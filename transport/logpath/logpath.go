// Package logpath gives the form of a request path that syncd's logs carry (the
// request log, error and panic lines). A share link's id (SPEC §7.5) is a bearer
// secret that travels in the URL path (/s/{id}/…, and DELETE /api/shares/{id}); the
// store keeps only its SHA-256 (the link's key), so the logs must not keep it either.
// Of replaces it by the first 16 hex digits of that key, the prefix the audit log names
// the link by ("share:<tenant>:<prefix>"), so a log line and an audit entry of one
// link still match. Every other path is returned as it is.
package logpath

import (
	"strings"

	"github.com/syncspace/syncspace/auth/share"
)

// secretPrefixes are the routes (without their leading slash) whose next path
// segment names a share link by its id (or, on /api/shares/, by its key).
var secretPrefixes = []string{"s/", "api/shares/"}

// keyPrefixLen is how much of a link's key a log line shows (as the audit log does).
const keyPrefixLen = 16

// Of returns p with a share link id in it replaced by "<key:PREFIX>", and any other
// segment in that place by "<redacted>" (a mistyped id is nearly a secret too). It
// allocates only for such paths: it runs on every request.
func Of(p string) string {
	// A path with doubled leading slashes is routed nowhere, but it is logged.
	trimmed := strings.TrimLeft(p, "/")
	if len(trimmed) == len(p) {
		return p
	}
	for _, prefix := range secretPrefixes {
		rest, ok := strings.CutPrefix(trimmed, prefix)
		if !ok || rest == "" {
			continue
		}
		seg, tail, slash := strings.Cut(rest, "/")
		out := p[:len(p)-len(rest)] + redact(seg)
		if slash {
			out += "/" + tail
		}
		return out
	}
	return p
}

// redact is the logged form of the segment that names a link.
func redact(seg string) string {
	switch {
	case seg == "":
		return ""
	case share.ParseID(seg):
		return "<key:" + share.KeyOf(seg)[:keyPrefixLen] + ">"
	case isKey(seg):
		return "<key:" + seg[:keyPrefixLen] + ">"
	}
	return "<redacted>"
}

// isKey reports whether seg has the shape of a link's key (64 lowercase hex digits),
// which names a link without opening it.
func isKey(seg string) bool {
	return len(seg) == 64 && strings.Trim(seg, "0123456789abcdef") == ""
}
