package protocol

import (
	"strings"
	"testing"
)

func TestArchiveEntryInfo(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		pax     map[string]string
		hash    string
		seq     int64
		ok      bool
		comment string
	}{
		{name: "comment form", pax: map[string]string{"comment": ArchiveComment(h, 42)}, hash: h, seq: 42, ok: true},
		{name: "comment wins over legacy", pax: map[string]string{"comment": ArchiveComment(h, 1), "SYNCSPACE.hash": "x", "SYNCSPACE.seq": "9"}, hash: h, seq: 1, ok: true},
		{name: "legacy records", pax: map[string]string{"SYNCSPACE.hash": h, "SYNCSPACE.seq": "7"}, hash: h, seq: 7, ok: true},
		{name: "unknown keys ignored", pax: map[string]string{"comment": "syncspace hash=" + h + " seq=3 size=9"}, hash: h, seq: 3, ok: true},
		{name: "keys in any order", pax: map[string]string{"comment": "syncspace seq=3 hash=" + h}, hash: h, seq: 3, ok: true},
		// attacks and malformed input
		{name: "no records", pax: nil},
		{name: "other comment", pax: map[string]string{"comment": "made by hand"}},
		{name: "wrong tag", pax: map[string]string{"comment": "syncspacex hash=" + h + " seq=1"}},
		{name: "missing seq", pax: map[string]string{"comment": "syncspace hash=" + h}},
		{name: "missing hash", pax: map[string]string{"comment": "syncspace seq=1 x=y"}},
		{name: "repeated hash", pax: map[string]string{"comment": "syncspace hash=" + h + " hash=" + h + " seq=1"}},
		{name: "repeated seq", pax: map[string]string{"comment": "syncspace hash=" + h + " seq=1 seq=2"}},
		{name: "seq not a number", pax: map[string]string{"comment": "syncspace hash=" + h + " seq=1e3"}},
		{name: "seq overflow", pax: map[string]string{"comment": "syncspace hash=" + h + " seq=99999999999999999999"}},
		{name: "double space", pax: map[string]string{"comment": "syncspace  hash=" + h + " seq=1"}},
		{name: "word without =", pax: map[string]string{"comment": "syncspace hash=" + h + " seq=1 junk"}},
		{name: "empty key", pax: map[string]string{"comment": "syncspace hash=" + h + " seq=1 =x"}},
		{name: "legacy without seq", pax: map[string]string{"SYNCSPACE.hash": h}},
		{name: "legacy bad seq", pax: map[string]string{"SYNCSPACE.hash": h, "SYNCSPACE.seq": "x"}},
		{name: "comment present but bad beats good legacy", pax: map[string]string{"comment": "nope", "SYNCSPACE.hash": h, "SYNCSPACE.seq": "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hash, seq, ok := ArchiveEntryInfo(tc.pax)
			if ok != tc.ok || (ok && (hash != tc.hash || seq != tc.seq)) {
				t.Fatalf("got %q %d %v, want %q %d %v", hash, seq, ok, tc.hash, tc.seq, tc.ok)
			}
		})
	}
}

// FuzzArchiveEntryInfo: any comment decodes without panicking, and what ArchiveComment
// writes reads back unchanged.
func FuzzArchiveEntryInfo(f *testing.F) {
	f.Add("syncspace hash=ab seq=1", "ab", int64(1))
	f.Add("syncspace seq=-1 hash=", "", int64(0))
	f.Add("", strings.Repeat("0", 64), int64(1<<62))
	f.Fuzz(func(t *testing.T, comment, hash string, seq int64) {
		ArchiveEntryInfo(map[string]string{"comment": comment})
		if strings.ContainsAny(hash, " =") {
			return
		}
		h, s, ok := ArchiveEntryInfo(map[string]string{"comment": ArchiveComment(hash, seq)})
		if !ok || h != hash || s != seq {
			t.Fatalf("round trip of %q %d: %q %d %v", hash, seq, h, s, ok)
		}
	})
}
