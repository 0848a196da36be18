package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

func TestIgnorer(t *testing.T) {
	ig := newIgnorer([]byte("# comment\n*.log\n!keep.log\nbuild/\n/top-only.txt\n!Thumbs.db\n\\#hash\n"))
	cases := []struct {
		path string
		dir  bool
		want bool
	}{
		{"a.txt", false, false},
		{"x.log", false, true},
		{"deep/x.log", false, true},
		{"keep.log", false, false},
		{"build", true, true},
		{"build/out.bin", false, true},
		{"src/build/out.bin", false, true},
		{"build", false, false}, // a file named build is not the directory rule
		{"top-only.txt", false, true},
		{"sub/top-only.txt", false, false},
		{".DS_Store", false, true},
		{"sub/.DS_Store", false, true},
		{"desktop.ini", false, true},
		{"~$report.docx", false, true},
		{".~lock.report.odt#", false, true},
		{"Thumbs.db", false, false}, // undone by !Thumbs.db
		{"#hash", false, true},
		// Internal names can never be synced, whatever the rules say.
		{".syncspace", true, true},
		{".syncspace/state.json", false, true},
		{"a/.SyncSpace/x", false, true},
		{".syncspace-tmp-abc", false, true},
		{"dir/.syncspace-tmp-1", false, true},
		{".syncignore", false, false},
	}
	for _, c := range cases {
		if got := ig.Ignored(c.path, c.dir); got != c.want {
			t.Errorf("Ignored(%q, dir=%v) = %v, want %v", c.path, c.dir, got, c.want)
		}
	}
	// Without a .syncignore the built-ins apply.
	if !newIgnorer(nil).Ignored("Thumbs.db", false) {
		t.Error("Thumbs.db not ignored by default")
	}
}

func TestGuard(t *testing.T) {
	mk := func(files int) *Engine {
		e := &Engine{book: book{base: map[string]baseEntry{}}}
		for i := 0; i < files; i++ {
			k := "f" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + time.Duration(i).String()
			e.base[k] = baseEntry{Path: k, Hash: "h"}
		}
		return e
	}
	cases := []struct {
		name          string
		files         int
		local, remote int
		allow         bool
		wantErr       bool
	}{
		{"small folder, delete all", 100, 100, 0, false, false},
		{"101 of 150 local", 150, 101, 0, false, true},
		{"101 of 150 remote", 150, 0, 101, false, true},
		{"101 of 300", 300, 101, 0, false, false},
		{"150 of 300 exactly half", 300, 150, 0, false, false},
		{"151 of 300", 300, 151, 0, false, true},
		{"allowed", 150, 150, 150, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := mk(c.files)
			e.opts.AllowMassDelete = c.allow
			err := e.guard(&plan{localDeletes: c.local, remoteDeletes: c.remote})
			if (err != nil) != c.wantErr {
				t.Fatalf("guard = %v, want error %v", err, c.wantErr)
			}
		})
	}
}

func TestCheckEvent(t *testing.T) {
	hash := strings.Repeat("a", 64)
	file := func(p string) protocol.Metadata { return protocol.Metadata{Path: p, Hash: hash, Size: 1} }
	ev := func(seq int64, op protocol.Operation) protocol.Event {
		return protocol.Event{Type: protocol.TypeFileOperation, Seq: seq, Operation: op}
	}
	create := func(m protocol.Metadata) protocol.Operation { return protocol.NewOperation(protocol.OpCreate, "", m) }
	move := func(from string, m protocol.Metadata) protocol.Operation {
		return protocol.NewOperation(protocol.OpMove, from, m)
	}
	good := []protocol.Event{
		ev(1, create(file("a.txt"))),
		ev(2, create(protocol.Metadata{Path: "dir/sub", IsDirectory: true})),
		ev(3, protocol.NewOperation(protocol.OpDelete, "", file("a.txt"))),
		ev(4, move("a.txt", file("b/a.txt"))),
		ev(5, move("a.txt", file("A.txt"))),
		ev(6, create(file("é.txt"))),
	}
	for _, g := range good {
		if err := CheckEvent(g); err != nil {
			t.Errorf("good event %+v refused: %v", g, err)
		}
	}
	attacks := map[string]protocol.Event{
		"dotdot":             ev(1, create(file("../x"))),
		"inner dotdot":       ev(1, create(file("a/../../x"))),
		"absolute":           ev(1, create(file("/etc/passwd"))),
		"state dir":          ev(1, create(file(".syncspace/state.json"))),
		"state dir folded":   ev(1, create(file("a/.SYNCSPACE/x"))),
		"backslash":          ev(1, create(file(`a\..\x`))),
		"nul":                ev(1, create(file("a\x00b"))),
		"empty":              ev(1, create(file(""))),
		"dot":                ev(1, create(file("./x"))),
		"trailing slash":     ev(1, create(file("x/"))),
		"nfd":                ev(1, create(file("e\u0301.txt"))),
		"control":            ev(1, create(file("a\x1bb"))),
		"bidi":               ev(1, create(file("a\u202eb"))),
		"bad hash":           ev(1, create(protocol.Metadata{Path: "x", Hash: "zz"})),
		"dir with hash":      ev(1, create(protocol.Metadata{Path: "x", Hash: hash, IsDirectory: true})),
		"negative size":      ev(1, create(protocol.Metadata{Path: "x", Hash: hash, Size: -1})),
		"no operation":       ev(1, protocol.Operation{}),
		"two operations":     ev(1, protocol.Operation{Create: &protocol.OpMeta{Metadata: file("x")}, Delete: &protocol.OpMeta{Metadata: file("x")}}),
		"zero seq":           ev(0, create(file("x"))),
		"negative seq":       ev(-5, create(file("x"))),
		"move from dotdot":   ev(1, move("../x", file("y"))),
		"move to dotdot":     ev(1, move("x", file("../y"))),
		"move into itself":   ev(1, move("a", protocol.Metadata{Path: "a/b", IsDirectory: true})),
		"move from absolute": ev(1, move("/x", file("y"))),
		"windows reserved":   ev(1, create(file("CON.txt"))),
		"long segment":       ev(1, create(file(strings.Repeat("a", 256)))),
	}
	for name, a := range attacks {
		if err := CheckEvent(a); err == nil {
			t.Errorf("attack %q accepted", name)
		}
	}
}

func TestHashCache(t *testing.T) {
	sec := int64(time.Second)
	ms := int64(time.Millisecond)
	base := localEntry{Path: "a", Size: 3, MtimeNs: 100 * sec, Ino: 7, Hash: "h", At: 200 * sec}
	now := localEntry{Path: "a", Size: 3, MtimeNs: 100 * sec, Ino: 7}
	hashedAt := func(at int64) localEntry { l := base; l.At = at; return l }
	cases := []struct {
		name   string
		old    localEntry
		cur    localEntry
		window time.Duration
		want   string
	}{
		{"unchanged", base, now, racyWindow, "h"},
		{"unchanged, fine", base, now, fineRacyWindow, "h"},
		{"size changed", base, localEntry{Path: "a", Size: 4, MtimeNs: 100 * sec, Ino: 7}, fineRacyWindow, ""},
		{"mtime changed", base, localEntry{Path: "a", Size: 3, MtimeNs: 101 * sec, Ino: 7}, fineRacyWindow, ""},
		{"mtime changed by 1 ns", base, localEntry{Path: "a", Size: 3, MtimeNs: 100*sec + 1, Ino: 7}, fineRacyWindow, ""},
		{"inode changed", base, localEntry{Path: "a", Size: 3, MtimeNs: 100 * sec, Ino: 8}, fineRacyWindow, ""},
		{"other path", base, localEntry{Path: "b", Size: 3, MtimeNs: 100 * sec, Ino: 7}, fineRacyWindow, ""},
		{"no hash", localEntry{Path: "a", Size: 3, MtimeNs: 100 * sec, Ino: 7, At: 200 * sec}, now, fineRacyWindow, ""},
		// Coarse (FAT, network, unknown): 2 s.
		{"racy: hashed right after the write", hashedAt(100*sec + sec/2), now, racyWindow, ""},
		{"coarse: hashed 1.99 s after", hashedAt(100*sec + 1990*ms), now, racyWindow, ""},
		{"coarse: hashed 2 s after", hashedAt(102 * sec), now, racyWindow, "h"},
		// Fine (a local file system with nanosecond mtimes): 50 ms.
		{"fine: hashed right after the write", hashedAt(100*sec + 1), now, fineRacyWindow, ""},
		{"fine: hashed one tick after", hashedAt(100*sec + 10*ms), now, fineRacyWindow, ""},
		{"fine: hashed 49 ms after", hashedAt(100*sec + 49*ms), now, fineRacyWindow, ""},
		{"fine: hashed 50 ms after", hashedAt(100*sec + 50*ms), now, fineRacyWindow, "h"},
		{"fine: hashed 0.5 s after", hashedAt(100*sec + sec/2), now, fineRacyWindow, "h"},
		// Clock skew: an mtime later than the hash (a clock ahead, a touch into the
		// future) is never trusted, whatever the window.
		{"mtime in the future", hashedAt(50 * sec), now, racyWindow, ""},
		{"mtime in the future, fine", hashedAt(50 * sec), now, fineRacyWindow, ""},
		{"mtime just after the hash, fine", hashedAt(100*sec - 1), now, fineRacyWindow, ""},
		{"zero window still refuses a later mtime", hashedAt(100*sec - 1), now, 0, ""},
	}
	for _, c := range cases {
		if got := c.old.cacheFor(c.cur, c.window); got != c.want {
			t.Errorf("%s: cacheFor = %q, want %q", c.name, got, c.want)
		}
	}
}
