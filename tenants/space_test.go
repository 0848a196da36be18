package tenants

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

func TestPutRoundTrip(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	big := make([]byte, 10<<20)
	rand.Read(big)
	for _, tc := range []struct {
		name string
		data []byte
		size int64
	}{{"empty", nil, 0}, {"one", []byte{0x42}, 1}, {"big/ten.bin", big, int64(len(big))}, {"unknown-size", []byte("hello"), -1}} {
		m, created, err := e.sp.Put(ctx, tc.name, bytes.NewReader(tc.data), PutOptions{Size: tc.size, SHA256: strings.ToUpper(sum(tc.data))})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !created || m.Hash != sum(tc.data) || m.Size != int64(len(tc.data)) || m.Path != tc.name || m.Seq == 0 {
			t.Fatalf("%s: meta %+v created %v", tc.name, m, created)
		}
		if got := e.read(tc.name); !bytes.Equal(got, tc.data) {
			t.Fatalf("%s: content differs", tc.name)
		}
		st, err := e.sp.Stat(ctx, tc.name)
		if err != nil || st != m {
			t.Fatalf("%s: Stat %+v %v, want %+v", tc.name, st, err, m)
		}
		fi, err := os.Stat(filepath.Join(e.filesDir(), tc.name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: on disk %v %v", tc.name, fi, err)
		}
	}
	// big/ was created as a parent without its own event, mode 0700.
	fi, err := os.Stat(filepath.Join(e.filesDir(), "big"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("parent dir: %v %v", fi, err)
	}
	if st, err := e.sp.Stat(ctx, "big"); err != nil || !st.IsDirectory {
		t.Fatalf("parent not listed: %+v %v", st, err)
	}
	evs := e.evs()
	if len(evs) != 4 {
		t.Fatalf("events %d, want 4", len(evs))
	}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) || ev.Operation.Kind() != protocol.OpCreate || ev.Type != protocol.TypeFileOperation {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	// Update with X-Modified, and identical PUT is a no-op.
	mod := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	m, created, err := e.sp.Put(ctx, "one", strings.NewReader("two"), PutOptions{Size: 3, Modified: mod,
		Source: Source{ClientID: "c1", Subject: "alice"}})
	if err != nil || created || !m.Modified.Equal(mod) {
		t.Fatalf("update: %+v %v %v", m, created, err)
	}
	ev := e.evs()[4]
	if ev.Operation.Kind() != protocol.OpUpdate || ev.SourceClient != "c1" || ev.SourceSubject != "alice" || ev.Operation.Meta() != m {
		t.Fatalf("update event %+v", ev)
	}
	m2, created, err := e.sp.Put(ctx, "one", strings.NewReader("two"), PutOptions{Size: 3})
	if err != nil || created || m2 != m {
		t.Fatalf("identical put: %+v %v %v", m2, created, err)
	}
	if n := len(e.evs()); n != 5 {
		t.Fatalf("identical put made an event (%d events)", n)
	}
	vs, err := e.sp.Versions(ctx, "one")
	if err != nil || len(vs) != 1 || vs[0].Hash != sum([]byte{0x42}) {
		t.Fatalf("versions %+v %v", vs, err)
	}
	u, _ := e.sp.Usage(ctx)
	if u.Used != int64(len(big))+3+5 || u.Entries != 5 {
		t.Fatalf("usage %+v", u)
	}
	if ep, seq := e.sp.Head(); ep == "" || seq != 5 {
		t.Fatalf("head %q %d", ep, seq)
	}
}

func TestPutAttacks(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	for _, p := range []string{"", "/abs", "../x", "a/../b", "a\\b", "nul", "x/.SyncSpace/y", "a\x00", "trail.", "bidi\u202e"} {
		_, _, err := e.sp.Put(ctx, p, strings.NewReader("x"), PutOptions{Size: 1})
		wantCode(t, err, protocol.CodeInvalidPath)
	}
	_, _, err := e.sp.Put(ctx, "ok", strings.NewReader("x"), PutOptions{Size: 1, SHA256: "zz"})
	wantCode(t, err, protocol.CodeBadRequest)
	// Body length differing from the declared size.
	_, _, err = e.sp.Put(ctx, "short", strings.NewReader("x"), PutOptions{Size: 5})
	wantCode(t, err, protocol.CodeBadRequest)
	_, _, err = e.sp.Put(ctx, "long", strings.NewReader("xxxxxx"), PutOptions{Size: 2})
	wantCode(t, err, protocol.CodeBadRequest)
	// A failing body reader.
	_, _, err = e.sp.Put(ctx, "broken", io.MultiReader(strings.NewReader("abc"), errReader{}), PutOptions{Size: -1})
	wantCode(t, err, protocol.CodeBadRequest)
	// NFD input is stored under its NFC name.
	m := e.put("cafe\u0301.txt", []byte("x"))
	if m.Path != "caf\u00e9.txt" {
		t.Fatalf("not NFC: %q", m.Path)
	}
	if len(e.list()) != 1 {
		t.Fatalf("failed uploads left entries: %v", e.list())
	}
	assertTmpEmpty(t, e)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func assertTmpEmpty(t *testing.T, e *env) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.dir, "tenants", e.tenant, "tmp"))
	if err != nil || len(ents) != 0 {
		t.Fatalf("tmp not empty: %v %v", ents, err)
	}
}

func TestPreconditions(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	m := e.put("f", []byte("v1"))
	_, _, err := e.sp.Put(ctx, "f", strings.NewReader("v2"), PutOptions{Size: 2, IfNoneMatch: true})
	wantCode(t, err, protocol.CodePreconditionFailed)
	_, _, err = e.sp.Put(ctx, "f", strings.NewReader("v2"), PutOptions{Size: 2, IfMatch: sum([]byte("other"))})
	wantCode(t, err, protocol.CodePreconditionFailed)
	_, _, err = e.sp.Put(ctx, "missing", strings.NewReader("v2"), PutOptions{Size: 2, IfMatch: m.Hash})
	wantCode(t, err, protocol.CodePreconditionFailed)
	if _, _, err = e.sp.Put(ctx, "f", strings.NewReader("v2"), PutOptions{Size: 2, IfMatch: m.Hash}); err != nil {
		t.Fatal(err)
	}
	if _, _, err = e.sp.Put(ctx, "new", strings.NewReader("n"), PutOptions{Size: 1, IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	if string(e.read("f")) != "v2" {
		t.Fatal("content")
	}
	// Delete If-Match, move if_match.
	_, err = e.sp.Delete(ctx, "f", DeleteOptions{IfMatch: m.Hash})
	wantCode(t, err, protocol.CodePreconditionFailed)
	_, err = e.sp.Move(ctx, "f", "g", m.Hash, Source{})
	wantCode(t, err, protocol.CodePreconditionFailed)
	// BeforeCommit refusing aborts the upload.
	_, _, err = e.sp.Put(ctx, "f", strings.NewReader("v3"), PutOptions{Size: 2, BeforeCommit: func() error {
		return protocol.Errorf(protocol.CodeUnauthenticated, "token revoked")
	}})
	wantCode(t, err, protocol.CodeUnauthenticated)
	if string(e.read("f")) != "v2" {
		t.Fatal("aborted upload changed content")
	}
	assertTmpEmpty(t, e)
}

func TestDigestMismatch(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	e.put("f", []byte("old"))
	n := len(e.evs())
	_, _, err := e.sp.Put(ctx, "f", strings.NewReader("new"), PutOptions{Size: 3, SHA256: sum([]byte("something else"))})
	wantCode(t, err, protocol.CodeDigestMismatch)
	if string(e.read("f")) != "old" || len(e.evs()) != n {
		t.Fatal("old content not intact")
	}
	_, _, err = e.sp.Put(ctx, "g", strings.NewReader("new"), PutOptions{Size: -1, SHA256: sum([]byte("x"))})
	wantCode(t, err, protocol.CodeDigestMismatch)
	if _, err := e.sp.Stat(ctx, "g"); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatal("failed upload created the file")
	}
	assertTmpEmpty(t, e)
}

func TestQuotaAndLimits(t *testing.T) {
	e := newEnv(t, Limits{MaxEntries: 100}, Options{Quota: 1000, MaxFileSize: 600, MaxEntries: 5})
	ctx := context.Background()
	e.put("a", make([]byte, 500))
	// Declared size over the quota.
	_, _, err := e.sp.Put(ctx, "b", bytes.NewReader(make([]byte, 501)), PutOptions{Size: 501})
	wantCode(t, err, protocol.CodeQuotaExceeded)
	// Unknown size over the quota: found while streaming.
	_, _, err = e.sp.Put(ctx, "b", bytes.NewReader(make([]byte, 501)), PutOptions{Size: -1})
	wantCode(t, err, protocol.CodeQuotaExceeded)
	// Unknown size under the quota, close to it.
	if _, _, err := e.sp.Put(ctx, "small", bytes.NewReader(make([]byte, 400)), PutOptions{Size: -1}); err != nil {
		t.Fatalf("unknown-size upload within the quota: %v", err)
	}
	if _, err := e.sp.Delete(ctx, "small", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Replacing a file counts only the difference.
	if _, _, err := e.sp.Put(ctx, "a", bytes.NewReader(make([]byte, 600)), PutOptions{Size: 600}); err != nil {
		t.Fatal(err)
	}
	// max_file_size, declared and streamed.
	_, _, err = e.sp.Put(ctx, "c", bytes.NewReader(make([]byte, 601)), PutOptions{Size: 601})
	wantCode(t, err, protocol.CodeTooLarge)
	_, _, err = e.sp.Put(ctx, "c", bytes.NewReader(make([]byte, 601)), PutOptions{Size: -1})
	wantCode(t, err, protocol.CodeTooLarge)
	// Concurrent uploads cannot overshoot the quota together.
	var wg sync.WaitGroup
	var okN, quotaN int
	var mu sync.Mutex
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			size := int64(100)
			if i%2 == 1 {
				size = -1
			}
			_, _, err := e.sp.Put(ctx, "q"+string(rune('0'+i)), bytes.NewReader(make([]byte, 100)), PutOptions{Size: size})
			mu.Lock()
			defer mu.Unlock()
			switch protocol.CodeOf(err) {
			case protocol.CodeQuotaExceeded:
				quotaN++
			case protocol.CodeTooLarge: // entry limit
				quotaN++
			default:
				if err != nil {
					t.Error(err)
				}
				okN++
			}
		}(i)
	}
	wg.Wait()
	u, _ := e.sp.Usage(ctx)
	if u.Used > 1000 || u.Quota != 1000 || u.MaxEntries != 5 {
		t.Fatalf("usage %+v after %d ok %d refused", u, okN, quotaN)
	}
	if okN == 0 || quotaN == 0 {
		t.Fatalf("ok %d refused %d", okN, quotaN)
	}
	assertTmpEmpty(t, e)
	// Entry limit: directories count too.
	for i := 0; ; i++ {
		_, _, err := e.sp.Mkdir(ctx, "d"+string(rune('0'+i)), Source{})
		if err != nil {
			wantCode(t, err, protocol.CodeTooLarge)
			break
		}
		if i > 10 {
			t.Fatal("entry limit not enforced")
		}
	}
	u, _ = e.sp.Usage(ctx)
	if u.Entries != 5 {
		t.Fatalf("entries %d", u.Entries)
	}
	if s := e.sp.reserved; s != 0 {
		t.Fatalf("reservations leaked: %d", s)
	}
}

func TestConcurrentPutsOnePath(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	const n = 8
	contents := make([][]byte, n)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10+i)
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, _, err := e.sp.Put(ctx, "same", bytes.NewReader(contents[i]), PutOptions{Size: int64(len(contents[i]))}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	// Readers never see a partial file.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			f, m, err := e.sp.Open(ctx, "same")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(f)
			f.Close()
			if sum(b) != m.Hash {
				t.Error("reader saw content not matching its metadata")
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	evs := e.evs()
	if len(evs) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	got := e.read("same")
	last := evs[n-1].Operation.Meta()
	if sum(got) != last.Hash {
		t.Fatal("final content is not the last event's")
	}
	found := false
	for _, c := range contents {
		found = found || bytes.Equal(c, got)
	}
	if !found {
		t.Fatal("final content is a mix")
	}
	vs, _ := e.sp.Versions(ctx, "same")
	if len(vs) != n-1 {
		t.Fatalf("%d versions, want %d", len(vs), n-1)
	}
}

func TestCaseCollisions(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	e.put("Docs/Readme.md", []byte("x"))
	for _, p := range []string{"docs/readme.md", "DOCS/x", "Docs/README.MD", "Docs/readme.md"} {
		_, _, err := e.sp.Put(ctx, p, strings.NewReader("y"), PutOptions{Size: 1})
		wantCode(t, err, protocol.CodeConflict)
	}
	_, _, err := e.sp.Mkdir(ctx, "docs", Source{})
	wantCode(t, err, protocol.CodeConflict)
	_, _, err = e.sp.Mkdir(ctx, "Docs/Readme.md", Source{})
	wantCode(t, err, protocol.CodeConflict)
	_, _, err = e.sp.Put(ctx, "Docs/Readme.md/child", strings.NewReader("y"), PutOptions{Size: 1})
	wantCode(t, err, protocol.CodeConflict)
	_, _, err = e.sp.Put(ctx, "Docs", strings.NewReader("y"), PutOptions{Size: 1})
	wantCode(t, err, protocol.CodeConflict)
	e.put("K", []byte("1"))
	_, _, err = e.sp.Put(ctx, "k", strings.NewReader("y"), PutOptions{Size: 1})
	wantCode(t, err, protocol.CodeConflict)
	// The Kelvin sign is NFC-normalized to K: the same name, so an update.
	if m, created, err := e.sp.Put(ctx, "\u212a", strings.NewReader("y"), PutOptions{Size: 1}); err != nil || created || m.Path != "K" {
		t.Fatalf("kelvin: %+v %v %v", m, created, err)
	}
	e.put("\u017f-long-s", []byte("1"))
	_, _, err = e.sp.Put(ctx, "S-LONG-S", strings.NewReader("y"), PutOptions{Size: 1})
	wantCode(t, err, protocol.CodeConflict)
	// Lookups are exact.
	_, err = e.sp.Stat(ctx, "docs/readme.md")
	wantCode(t, err, protocol.CodeNotFound)
}

func TestMkdir(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	m, created, err := e.sp.Mkdir(ctx, "a/b", Source{ClientID: "c"})
	if err != nil || !created || !m.IsDirectory || m.Hash != "" {
		t.Fatalf("%+v %v %v", m, created, err)
	}
	m2, created, err := e.sp.Mkdir(ctx, "a/b", Source{})
	if err != nil || created || m2 != m {
		t.Fatalf("second mkdir %+v %v %v", m2, created, err)
	}
	evs := e.evs()
	if len(evs) != 1 || evs[0].Operation.Create == nil || !evs[0].Operation.Create.Metadata.IsDirectory {
		t.Fatalf("events %+v", evs)
	}
	e.put("file", []byte("x"))
	_, _, err = e.sp.Mkdir(ctx, "file", Source{})
	wantCode(t, err, protocol.CodeConflict)
	_, _, err = e.sp.Mkdir(ctx, "file/sub", Source{})
	wantCode(t, err, protocol.CodeConflict)
	fi, err := os.Stat(filepath.Join(e.filesDir(), "a", "b"))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%v %v", fi, err)
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	e.put("d/x", []byte("x"))
	e.put("d/sub/y", []byte("yy"))
	e.put("f", []byte("f"))
	_, err := e.sp.Delete(ctx, "d", DeleteOptions{})
	wantCode(t, err, protocol.CodeConflict)
	_, err = e.sp.Delete(ctx, "nope", DeleteOptions{})
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.sp.Delete(ctx, "D", DeleteOptions{Recursive: true})
	wantCode(t, err, protocol.CodeNotFound)
	_, head := e.sp.Head()
	e.put("d/sub/z", []byte("z"))
	_, err = e.sp.Delete(ctx, "d", DeleteOptions{Recursive: true, IfSeq: head})
	wantCode(t, err, protocol.CodePreconditionFailed)
	_, head = e.sp.Head()
	n := len(e.evs())
	seq, err := e.sp.Delete(ctx, "d", DeleteOptions{Recursive: true, IfSeq: head, Source: Source{ClientID: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	evs := e.evs()[n:]
	if len(evs) != 1 || evs[0].Seq != seq || evs[0].Operation.Delete == nil || evs[0].Operation.Delete.Metadata.Path != "d" ||
		!evs[0].Operation.Delete.Metadata.IsDirectory {
		t.Fatalf("delete events %+v", evs)
	}
	if _, err := os.Stat(filepath.Join(e.filesDir(), "d")); !os.IsNotExist(err) {
		t.Fatal("directory still on disk")
	}
	if got := e.list(); len(got) != 1 {
		t.Fatalf("list %v", got)
	}
	del, err := deletedIn(ctx, e.sp, "")
	if err != nil || len(del) != 3 {
		t.Fatalf("deleted %+v %v", del, err)
	}
	del, _ = deletedIn(ctx, e.sp, "d/sub")
	if len(del) != 2 || del[0].Path != "d/sub/y" || del[0].Hash != sum([]byte("yy")) {
		t.Fatalf("deleted d/sub %+v", del)
	}
	// File delete carries its last metadata.
	fm, _ := e.sp.Stat(ctx, "f")
	if _, err := e.sp.Delete(ctx, "f", DeleteOptions{IfMatch: fm.Hash}); err != nil {
		t.Fatal(err)
	}
	last := e.evs()[len(e.evs())-1]
	if got := last.Operation.Delete.Metadata; got.Hash != fm.Hash || got.Size != fm.Size || got.Path != "f" {
		t.Fatalf("delete meta %+v", got)
	}
	u, _ := e.sp.Usage(ctx)
	if u.Used != 0 || u.Entries != 0 {
		t.Fatalf("usage %+v", u)
	}
}

func TestRestore(t *testing.T) {
	e := newEnv(t, Limits{RetainVersions: time.Hour}, Options{})
	ctx := context.Background()
	e.put("dir/doc.txt", []byte("version one"))
	e.put("dir/doc.txt", []byte("version two"))
	if _, err := e.sp.Delete(ctx, "dir/doc.txt", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	vs, err := e.sp.Versions(ctx, "dir/doc.txt")
	if err != nil || len(vs) != 2 || vs[0].Hash != sum([]byte("version two")) || vs[1].Hash != sum([]byte("version one")) {
		t.Fatalf("versions %+v %v", vs, err)
	}
	del, err := deletedIn(ctx, e.sp, "dir")
	if err != nil || len(del) != 1 || del[0].Version != vs[0].ID {
		t.Fatalf("deleted %+v %v", del, err)
	}
	m, err := e.sp.Restore(ctx, "dir/doc.txt", vs[1].ID, "", Source{ClientID: "r"})
	if err != nil || m.Hash != sum([]byte("version one")) {
		t.Fatalf("restore %+v %v", m, err)
	}
	last := e.evs()[len(e.evs())-1]
	if last.Operation.Create == nil || last.SourceClient != "r" {
		t.Fatalf("restore event %+v", last)
	}
	if string(e.read("dir/doc.txt")) != "version one" {
		t.Fatal("restored content")
	}
	if del, _ := deletedIn(ctx, e.sp, ""); len(del) != 0 {
		t.Fatalf("restored file still listed as deleted: %+v", del)
	}
	// Restore to another path; the version stays.
	m, err = e.sp.Restore(ctx, "dir/doc.txt", vs[0].ID, "copy.txt", Source{})
	if err != nil || m.Path != "copy.txt" || string(e.read("copy.txt")) != "version two" {
		t.Fatalf("restore to: %+v %v", m, err)
	}
	_, err = e.sp.Versions(ctx, "never-existed.txt")
	wantCode(t, err, protocol.CodeNotFound)
	if vs, err := e.sp.Versions(ctx, "copy.txt"); err != nil || len(vs) != 0 {
		t.Fatalf("versions of a file without any: %v %v", vs, err)
	}
	_, err = e.sp.Restore(ctx, "other.txt", vs[0].ID, "", Source{})
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.sp.Restore(ctx, "dir/doc.txt", "../../../etc/passwd", "", Source{})
	wantCode(t, err, protocol.CodeNotFound)
}

func TestMove(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	mod := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	_, _, err := e.sp.Put(ctx, "a/f.txt", strings.NewReader("one"), PutOptions{Size: 3, Modified: mod})
	if err != nil {
		t.Fatal(err)
	}
	e.put("a/f.txt", []byte("two"))
	e.put("a/sub/g", []byte("g"))
	e.put("other", []byte("o"))
	m, err := e.sp.Move(ctx, "a", "x/y/b", "", Source{ClientID: "mv"})
	if err != nil || m.Path != "x/y/b" || !m.IsDirectory {
		t.Fatalf("move dir %+v %v", m, err)
	}
	last := e.evs()[len(e.evs())-1]
	if last.Operation.Move == nil || last.Operation.Move.From != "a" || last.Operation.Move.Metadata.Path != "x/y/b" {
		t.Fatalf("move event %+v", last)
	}
	l := e.list()
	for _, p := range []string{"x", "x/y", "x/y/b", "x/y/b/f.txt", "x/y/b/sub", "x/y/b/sub/g", "other"} {
		if _, ok := l[p]; !ok {
			t.Errorf("missing %s in %v", p, l)
		}
	}
	if len(l) != 7 {
		t.Fatalf("list %v", l)
	}
	if string(e.read("x/y/b/f.txt")) != "two" {
		t.Fatal("content")
	}
	vs, _ := e.sp.Versions(ctx, "x/y/b/f.txt")
	if len(vs) != 1 || vs[0].Hash != sum([]byte("one")) {
		t.Fatalf("versions not carried: %+v", vs)
	}
	// File move keeps hash, size, modified.
	before, _ := e.sp.Stat(ctx, "x/y/b/sub/g")
	m, err = e.sp.Move(ctx, "x/y/b/sub/g", "top-g", before.Hash, Source{})
	if err != nil || m.Hash != before.Hash || m.Size != before.Size || !m.Modified.Equal(before.Modified) {
		t.Fatalf("move file %+v %v", m, err)
	}
	// Case-only rename.
	if m, err = e.sp.Move(ctx, "top-g", "TOP-G", "", Source{}); err != nil || m.Path != "TOP-G" {
		t.Fatalf("case rename %+v %v", m, err)
	}
	if string(e.read("TOP-G")) != "g" {
		t.Fatal("content after case rename")
	}
	// Refusals.
	_, err = e.sp.Move(ctx, "other", "TOP-G", "", Source{})
	wantCode(t, err, protocol.CodeConflict)
	_, err = e.sp.Move(ctx, "other", "top-g", "", Source{})
	wantCode(t, err, protocol.CodeConflict)
	_, err = e.sp.Move(ctx, "x", "x/y/inside", "", Source{})
	wantCode(t, err, protocol.CodeConflict)
	_, err = e.sp.Move(ctx, "other", "other", "", Source{})
	wantCode(t, err, protocol.CodeConflict)
	_, err = e.sp.Move(ctx, "nope", "z", "", Source{})
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.sp.Move(ctx, "other", "TOP-G/under-file", "", Source{})
	wantCode(t, err, protocol.CodeConflict)
	_, err = e.sp.Move(ctx, "other", "../escape", "", Source{})
	wantCode(t, err, protocol.CodeInvalidPath)
	sameTree(t, e.list(), replay(e.evs()))
}

func TestChanges(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		e.put("f"+string(rune('a'+i)), []byte{byte(i)})
	}
	epoch, head := e.sp.Head()
	var all []protocol.Event
	since := int64(0)
	for {
		page, err := e.sp.Changes(ctx, since, epoch, 10)
		if err != nil {
			t.Fatal(err)
		}
		if page.Epoch != epoch {
			t.Fatal("epoch")
		}
		all = append(all, page.Events...)
		if !page.More {
			if page.Seq != head {
				t.Fatalf("last page seq %d", page.Seq)
			}
			break
		}
		since = page.Seq
	}
	if len(all) != 25 {
		t.Fatalf("%d events", len(all))
	}
	for i, ev := range all {
		if ev.Seq != int64(i+1) {
			t.Fatalf("gap at %d: %d", i, ev.Seq)
		}
	}
	if got := e.evs(); len(got) != 25 || got[7].Seq != all[7].Seq || got[7].Operation.Meta() != all[7].Operation.Meta() {
		t.Fatal("listener events differ from the log")
	}
	page, err := e.sp.Changes(ctx, head, "", 0)
	if err != nil || len(page.Events) != 0 || page.Seq != head || page.More {
		t.Fatalf("empty page %+v %v", page, err)
	}
	// attacks
	_, err = e.sp.Changes(ctx, 0, "not-the-epoch", 10)
	wantCode(t, err, protocol.CodeResyncRequired)
	_, err = e.sp.Changes(ctx, head+1, epoch, 10)
	wantCode(t, err, protocol.CodeResyncRequired)
	_, err = e.sp.Changes(ctx, -1, epoch, 10)
	wantCode(t, err, protocol.CodeBadRequest)
	if page, err := e.sp.Changes(ctx, 0, epoch, 1<<30); err != nil || len(page.Events) != 25 {
		t.Fatalf("huge limit: %v", err)
	}
}

func TestChangesRetention(t *testing.T) {
	e := newEnv(t, Limits{RetainChanges: 5}, Options{})
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		e.put("f", []byte{byte(i)})
	}
	e.reg.prune(ctx)
	epoch, head := e.sp.Head()
	_, err := e.sp.Changes(ctx, 0, epoch, 0)
	wantCode(t, err, protocol.CodeResyncRequired)
	_, err = e.sp.Changes(ctx, head-6, epoch, 0)
	wantCode(t, err, protocol.CodeResyncRequired)
	page, err := e.sp.Changes(ctx, head-5, epoch, 0)
	if err != nil || len(page.Events) != 5 {
		t.Fatalf("%+v %v", page, err)
	}
}

func TestListSnapshotAndReplay(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	// A mixed history.
	e.put("a/1", []byte("1"))
	e.put("a/b/2", []byte("2"))
	e.sp.Mkdir(ctx, "empty/dir", Source{})
	e.put("a/1", []byte("1b"))
	e.sp.Move(ctx, "a/b", "c", "", Source{})
	e.put("c/3", []byte("3"))
	e.sp.Delete(ctx, "a", DeleteOptions{Recursive: true})
	e.put("a/again", []byte("x"))
	e.sp.Move(ctx, "c/3", "c/THREE", "", Source{})
	e.sp.Delete(ctx, "empty", DeleteOptions{Recursive: true})
	var epoch string
	var seq int64
	got := map[string]protocol.Metadata{}
	err := e.sp.List(ctx, "", true, func(ep string, s int64) error { epoch, seq = ep, s; return nil }, func(m protocol.Metadata) error {
		got[m.Path] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	page, err := e.sp.Changes(ctx, 0, epoch, 0)
	if err != nil || page.Seq != seq {
		t.Fatalf("changes %v seq %d/%d", err, page.Seq, seq)
	}
	sameTree(t, got, replay(page.Events))
	// One level.
	var names []string
	if err := e.sp.List(ctx, "c", false, nil, func(m protocol.Metadata) error { names = append(names, m.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "c/2,c/THREE" {
		t.Fatalf("one level: %v", names)
	}
	wantCode(t, e.sp.List(ctx, "c/2", false, nil, func(protocol.Metadata) error { return nil }), protocol.CodeNotFound)
	wantCode(t, e.sp.List(ctx, "nope", true, nil, func(protocol.Metadata) error { return nil }), protocol.CodeNotFound)
	wantCode(t, e.sp.List(ctx, "../x", true, nil, func(protocol.Metadata) error { return nil }), protocol.CodeInvalidPath)
	// A callback error stops the listing.
	stop := errors.New("stop")
	if err := e.sp.List(ctx, "", true, nil, func(protocol.Metadata) error { return stop }); err != stop {
		t.Fatalf("callback error: %v", err)
	}
	// Snapshot: writes during a listing do not show in it.
	n := 0
	err = e.sp.List(ctx, "", true, nil, func(m protocol.Metadata) error {
		if n == 0 {
			done := make(chan error, 1)
			go func() { _, _, err := e.sp.Put(ctx, "zz-new", strings.NewReader("n"), PutOptions{Size: 1}); done <- err }()
			if err := <-done; err != nil {
				return err
			}
		}
		n++
		if m.Path == "zz-new" {
			t.Error("write during listing visible in the snapshot")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadOnly(t *testing.T) {
	e := newEnv(t, Limits{ReadOnly: true}, Options{})
	ctx := context.Background()
	_, _, err := e.sp.Put(ctx, "f", strings.NewReader("x"), PutOptions{Size: 1})
	wantCode(t, err, protocol.CodeForbidden)
	_, _, err = e.sp.Mkdir(ctx, "d", Source{})
	wantCode(t, err, protocol.CodeForbidden)
	_, err = e.sp.Delete(ctx, "f", DeleteOptions{})
	wantCode(t, err, protocol.CodeForbidden)
	_, err = e.sp.Move(ctx, "f", "g", "", Source{})
	wantCode(t, err, protocol.CodeForbidden)
	_, err = e.sp.Restore(ctx, "f", "x", "", Source{})
	wantCode(t, err, protocol.CodeForbidden)
}

func TestDiskFull(t *testing.T) {
	var free uint64 = 1 << 40
	var mu sync.Mutex
	probe := func() (uint64, error) { mu.Lock(); defer mu.Unlock(); return free, nil }
	e := newEnv(t, Limits{MinFreeDisk: 1000, FreeDisk: probe}, Options{})
	ctx := context.Background()
	e.put("f", []byte("v1"))
	e.put("f", []byte("v2"))
	e.put("f", []byte("v3"))
	mu.Lock()
	free = 500
	mu.Unlock()
	_, _, err := e.sp.Put(ctx, "g", strings.NewReader("x"), PutOptions{Size: 1})
	wantCode(t, err, protocol.CodeInsufficientStorage)
	if vs, _ := e.sp.Versions(ctx, "f"); len(vs) != 0 {
		t.Fatalf("versions not pruned first: %d left", len(vs))
	}
	ents, _ := os.ReadDir(filepath.Join(e.dir, "tenants", e.tenant, "versions"))
	if len(ents) != 0 {
		t.Fatalf("version files left: %d", len(ents))
	}
	assertTmpEmpty(t, e)
	mu.Lock()
	free = 1 << 30
	mu.Unlock()
	e.put("g", []byte("x"))
}

func TestVersionRetention(t *testing.T) {
	e := newEnv(t, Limits{RetainVersions: time.Hour}, Options{})
	ctx := context.Background()
	e.put("f", []byte("1"))
	e.put("f", []byte("2"))
	e.put("g", []byte("g"))
	if _, err := e.sp.Delete(ctx, "g", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if vs, _ := e.sp.Versions(ctx, "f"); len(vs) != 1 {
		t.Fatalf("versions %v", vs)
	}
	// Age the versions past the retention.
	if _, err := e.db.ExecContext(ctx, `UPDATE tenant_versions SET replaced_at = replaced_at - ?`, int64(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Expired versions are hidden at once and removed by the pruner.
	if vs, _ := e.sp.Versions(ctx, "f"); len(vs) != 0 {
		t.Fatalf("expired version listed: %v", vs)
	}
	if del, _ := deletedIn(ctx, e.sp, ""); len(del) != 0 {
		t.Fatalf("expired deletion listed: %v", del)
	}
	e.reg.prune(ctx)
	ents, _ := os.ReadDir(filepath.Join(e.dir, "tenants", e.tenant, "versions"))
	var n int
	if err := e.db.QueryRowContext(ctx, `SELECT count(*) FROM tenant_versions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 || n != 0 {
		t.Fatalf("pruning left %d files and %d rows", len(ents), n)
	}
}

// TestDeleteEventCarriesLastMetadata: SPEC §3, a Delete event carries the last
// metadata of what it deleted, seq included (the change that last wrote it), live and
// from the change log; other events' metadata seq is their own.
func TestDeleteEventCarriesLastMetadata(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	a := e.put("a.txt", []byte("one"))
	a = e.put("a.txt", []byte("two"))
	if _, _, err := e.sp.Mkdir(ctx, "d", Source{}); err != nil {
		t.Fatal(err)
	}
	dseq, err := e.sp.Delete(ctx, "a.txt", DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := e.sp.Changes(ctx, 0, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, evs := range [][]protocol.Event{e.evs(), page.Events} {
		if len(evs) != 4 {
			t.Fatalf("%d events", len(evs))
		}
		for _, ev := range evs[:3] {
			if m := ev.Operation.Meta(); m.Seq != ev.Seq {
				t.Errorf("event %d: metadata seq %d", ev.Seq, m.Seq)
			}
		}
		del := evs[3]
		m := del.Operation.Meta()
		if del.Seq != dseq || m.Seq != a.Seq || m.Hash != a.Hash || m.Size != a.Size || m.Path != "a.txt" {
			t.Errorf("delete event %d carries %+v, want the last metadata %+v", del.Seq, m, a)
		}
	}
}

// TestDeletedPages: Deleted reads the index a page at a time and calls back between
// reads, never holding a whole answer: with pages of 3 rows, a file deleted while
// the first entry is being handled (after the first page was read) still appears,
// and a file restored meanwhile no longer does; every other deleted file comes once,
// by path, with its newest version, and an error from the callback stops the reading.
func TestDeletedPages(t *testing.T) {
	old := deletedPageSize
	deletedPageSize = 3
	defer func() { deletedPageSize = old }()
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	const n = 20
	for i := range n {
		e.put(fmt.Sprintf("d/%02d", i), []byte("a"))
	}
	e.put("d/05", []byte("newer")) // two versions of d/05: the newest deleted is listed
	e.put("d/zz-late", []byte("late"))
	e.put("outside", []byte("o"))
	for _, p := range []string{"outside", "d/05"} {
		if _, err := e.sp.Delete(ctx, p, DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := e.sp.Delete(ctx, fmt.Sprintf("d/%02d", i), DeleteOptions{}); err != nil && i != 5 {
			t.Fatal(err)
		}
	}
	vs, err := e.sp.Versions(ctx, "d/15")
	if err != nil || len(vs) == 0 {
		t.Fatalf("versions of d/15: %v %v", vs, err)
	}
	var got []string
	err = e.sp.Deleted(ctx, "d", func(d DeletedEntry) error {
		got = append(got, d.Path)
		switch d.Path {
		case "d/00": // the first page has been read; the later ones not yet
			if _, err := e.sp.Delete(ctx, "d/zz-late", DeleteOptions{}); err != nil {
				return err
			}
			if _, err := e.sp.Restore(ctx, "d/15", vs[0].ID, "", Source{}); err != nil {
				return err
			}
		case "d/05":
			if d.Hash != sum([]byte("newer")) {
				t.Errorf("d/05 listed with hash %s, want the newest content's", d.Hash)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		if i != 15 {
			want = append(want, fmt.Sprintf("d/%02d", i))
		}
	}
	want = append(want, "d/zz-late")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("deleted under d:\n got %v\nwant %v", got, want)
	}
	stop := errors.New("stop")
	calls := 0
	err = e.sp.Deleted(ctx, "", func(DeletedEntry) error {
		if calls++; calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Fatalf("callback error: %v after %d calls, want stop after 2", err, calls)
	}
}

// TestRestoreExpiredVersion: a version past retention.versions is no longer listed,
// and restoring it is not_found too, also before prune has removed it (review).
func TestRestoreExpiredVersion(t *testing.T) {
	const retain = 300 * time.Millisecond
	e := newEnv(t, Limits{RetainVersions: retain}, Options{})
	ctx := context.Background()
	e.put("doc.txt", []byte("version one"))
	e.put("doc.txt", []byte("version two"))
	vs, err := e.sp.Versions(ctx, "doc.txt")
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions %+v %v", vs, err)
	}
	time.Sleep(2 * retain)
	if got, err := e.sp.Versions(ctx, "doc.txt"); err != nil || len(got) != 0 {
		t.Fatalf("expired version still listed: %+v %v", got, err)
	}
	before := len(e.evs())
	_, err = e.sp.Restore(ctx, "doc.txt", vs[0].ID, "", Source{})
	wantCode(t, err, protocol.CodeNotFound)
	if string(e.read("doc.txt")) != "version two" || len(e.evs()) != before {
		t.Fatal("an expired version was restored")
	}
}
