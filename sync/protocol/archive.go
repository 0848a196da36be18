package protocol

import (
	"strconv"
	"strings"
)

// The entries of GET /api/archive (an uncompressed PAX tar) carry the SHA-256 of their
// content and the seq of the change that last wrote them in the entry's PAX "comment"
// record, as ArchiveComment writes it:
//
//	comment=syncspace hash=<64 lowercase hex> seq=<decimal>
//
// POSIX says every reader ignores "comment", so GNU tar and bsdtar list and extract
// the archive without a warning (a vendor keyword such as "SYNCSPACE.hash" makes GNU
// tar print "Ignoring unknown extended header keyword" for every entry), and nothing
// is written to the extracted files' attributes.
const (
	// ArchivePAXComment is the PAX record that holds an entry's hash and seq.
	ArchivePAXComment = "comment"
	// ArchiveLegacyPAXHash and ArchiveLegacyPAXSeq are the records of servers before
	// the "comment" form; readers still accept them.
	ArchiveLegacyPAXHash = "SYNCSPACE.hash"
	ArchiveLegacyPAXSeq  = "SYNCSPACE.seq"
)

// archiveCommentTag opens every ArchiveComment.
const archiveCommentTag = "syncspace"

// ArchiveComment returns the value of an archive entry's "comment" PAX record.
func ArchiveComment(hash string, seq int64) string {
	return archiveCommentTag + " hash=" + hash + " seq=" + strconv.FormatInt(seq, 10)
}

// ArchiveEntryInfo returns the hash and seq an archive entry's PAX records carry: the
// "comment" form of ArchiveComment, else the legacy SYNCSPACE.hash and SYNCSPACE.seq
// records. ok is false when neither form is there in full; the values are returned as
// written (a caller checks that hash is a SHA-256 hex and seq not negative). In the
// comment, words are separated by single spaces, keys other than hash and seq are
// ignored (room for later additions), and a repeated key makes the comment invalid.
func ArchiveEntryInfo(pax map[string]string) (hash string, seq int64, ok bool) {
	if c, found := pax[ArchivePAXComment]; found {
		return parseArchiveComment(c)
	}
	h, hok := pax[ArchiveLegacyPAXHash]
	s, sok := pax[ArchiveLegacyPAXSeq]
	if !hok || !sok {
		return "", 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return h, n, true
}

func parseArchiveComment(c string) (hash string, seq int64, ok bool) {
	words := strings.Split(c, " ")
	if len(words) < 3 || words[0] != archiveCommentTag {
		return "", 0, false
	}
	var haveHash, haveSeq bool
	for _, w := range words[1:] {
		k, v, found := strings.Cut(w, "=")
		if !found || k == "" {
			return "", 0, false
		}
		switch k {
		case "hash":
			if haveHash {
				return "", 0, false
			}
			hash, haveHash = v, true
		case "seq":
			if haveSeq {
				return "", 0, false
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return "", 0, false
			}
			seq, haveSeq = n, true
		}
	}
	if !haveHash || !haveSeq {
		return "", 0, false
	}
	return hash, seq, true
}
