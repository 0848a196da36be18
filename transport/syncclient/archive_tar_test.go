package syncclient_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// TestArchiveReadByPlainTar fetches /api/archive from a real syncd and reads it with
// the real GNU tar (and bsdtar where installed): listing and extracting print nothing on
// stderr (no "Ignoring unknown extended header keyword"), the files come out with their
// content, and the client's archive reader takes the hash and seq of every entry from
// the same bytes.
func TestArchiveReadByPlainTar(t *testing.T) {
	s := startSyncd(t, 12)
	c, err := syncclient.New(syncclient.Options{Server: s.base, Token: s.token})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for p, body := range map[string][]byte{"with space/ünï €.txt": []byte("unicode"), "empty.bin": {}} {
		if _, _, err := c.Upload(ctx, p, bytes.NewReader(body), int64(len(body)), engine.UploadOptions{SHA256: hashOf(body)}); err != nil {
			t.Fatal(err)
		}
		s.files[p] = body
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/archive", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("archive: %d %v", resp.StatusCode, err)
	}
	dir := t.TempDir()
	tarFile := filepath.Join(dir, "a.tar")
	if err := os.WriteFile(tarFile, body, 0o600); err != nil {
		t.Fatal(err)
	}

	// The client's reader: every entry, each with the hash of its content and a seq.
	ar := syncclient.DecodeArchive(bytes.NewReader(body), "")
	seen := 0
	for {
		m, r, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("client reader: %v", err)
		}
		b, _ := io.ReadAll(r)
		want, ok := s.files[m.Path]
		if !ok || !bytes.Equal(b, want) || m.Hash != hashOf(want) || m.Seq <= 0 {
			t.Fatalf("entry %q: hash %s seq %d known %v", m.Path, m.Hash, m.Seq, ok)
		}
		seen++
	}
	if seen != len(s.files) {
		t.Fatalf("client reader saw %d entries, want %d", seen, len(s.files))
	}

	tools := 0
	for _, tool := range []string{"tar", "bsdtar"} {
		bin, err := exec.LookPath(tool)
		if err != nil {
			t.Logf("%s not installed: not checked", tool)
			continue
		}
		tools++
		run := func(args ...string) string {
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s %q: %v\n%s", tool, args, err, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Fatalf("%s %q printed on stderr:\n%s", tool, args, stderr.String())
			}
			return stdout.String()
		}
		if out := run("-tvf", tarFile); !bytes.Contains([]byte(out), []byte("ünï €.txt")) {
			t.Fatalf("%s -tvf lists:\n%s", tool, out)
		}
		into := filepath.Join(dir, tool)
		if err := os.Mkdir(into, 0o700); err != nil {
			t.Fatal(err)
		}
		run("-xf", tarFile, "-C", into)
		for p, want := range s.files {
			got, err := os.ReadFile(filepath.Join(into, filepath.FromSlash(p)))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s extracted %s: %v", tool, p, err)
			}
		}
	}
	if tools == 0 {
		t.Skip("no tar binary on PATH")
	}
}
