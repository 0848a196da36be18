package engine

import (
	"strings"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Names that are 8.3 short names of the client's own files. On a file system that
// generates short names (NTFS and FAT on Windows, fsys.ShortNamer), ".syncspace" can
// also be opened as "SYNCSP~1" and a temp file ".syncspace-tmp-…" as "SYNCSP~2": a
// server path "SYNCSP~1/state.json" (valid under SPEC §3, and harmless on Linux)
// would write into the state directory, and a server file "SYNCSP~1" would find the
// state directory standing at its name. There, such names are neither taken from
// the server nor from the folder (the rule is symmetric, so a name the server lists
// is never taken for deleted): "kept but not synced".

// errShortAlias is the refusal of a name that may stand for one of the client's own.
var errShortAlias = protocol.Errorf(protocol.CodeInvalidPath,
	"the name may be an 8.3 short name of the client's own files (.syncspace) on this file system")

// stateAlias reports whether a segment of the '/'-separated path p has the form of a
// short name Windows may generate for .syncspace, a .syncspace-tmp-* file or
// .syncignore: "sy", at most four more letters or digits, "~" and digits, in any case
// (SYNCSP~1, SYNCIG~1, and the hashed form SY3F2A~1 of later collisions), and at most
// one dot followed by at most three characters. The form is wider than those names'
// short names, since the hashed form cannot be foreseen.
func stateAlias(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if shortStateForm(seg) {
			return true
		}
	}
	return false
}

// shortStateForm is stateAlias's test of one segment.
func shortStateForm(seg string) bool {
	stem, ext, dotted := strings.Cut(seg, ".")
	if dotted && (len(ext) > 3 || strings.Contains(ext, ".")) {
		return false
	}
	tilde := strings.IndexByte(stem, '~')
	if len(stem) > 8 || tilde < 2 || tilde > 6 || tilde == len(stem)-1 || !strings.EqualFold(stem[:2], "sy") {
		return false
	}
	for i := 2; i < len(stem); i++ {
		c := stem[i] | 0x20 // lower case for letters
		switch {
		case i == tilde:
		case i < tilde && (c >= 'a' && c <= 'z' || stem[i] >= '0' && stem[i] <= '9'):
		case i > tilde && stem[i] >= '0' && stem[i] <= '9':
		default:
			return false
		}
	}
	return true
}

// aliasRefused reports whether p is refused here as a possible short name of the
// client's own files (only where the file system has short names).
func (e *book) aliasRefused(p string) bool { return e.shortNames && stateAlias(p) }

// checkEvent is CheckEvent plus aliasRefused for the paths the event names.
func (e *book) checkEvent(ev protocol.Event) error {
	if err := CheckEvent(ev); err != nil {
		return err
	}
	if e.aliasRefused(ev.Operation.Meta().Path) || (ev.Operation.Move != nil && e.aliasRefused(ev.Operation.Move.From)) {
		return errShortAlias
	}
	return nil
}
