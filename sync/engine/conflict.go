package engine

import (
	"fmt"
	"strings"
	"time"
)

// ConflictName returns the name of the conflict copy of the '/'-separated path p made
// by clientID at time t (SPEC §1): NAME.sync-conflict-YYYYMMDD-HHMMSS-CLIENT8.EXT in UTC,
// where EXT follows the last dot of the file name (none for names like ".bashrc" that
// have no dot after their first character) and CLIENT8 is the first 8 characters of the
// client id. n > 1 adds "-n" for a name that is taken.
func ConflictName(p, clientID string, t time.Time, n int) string {
	dir, name := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, name = p[:i+1], p[i+1:]
	}
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		stem, ext = name[:i], name[i:]
	}
	c8 := clientID
	if len(c8) > 8 {
		c8 = c8[:8]
	}
	suffix := ""
	if n > 1 {
		suffix = fmt.Sprintf("-%d", n)
	}
	return dir + stem + ".sync-conflict-" + t.UTC().Format("20060102-150405") + "-" + c8 + suffix + ext
}
