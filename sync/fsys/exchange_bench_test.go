package fsys

import (
	"errors"
	"os"
	"testing"
)

// BenchmarkReplace compares the two ways of putting a new 4 KiB file over an
// existing one: a replacing rename (the client before session 24) and an exchange
// followed by a stat and a remove of what came out (the client's replace where the
// platform can swap). Each iteration writes the new file first, as a download does.
func BenchmarkReplace(b *testing.B) {
	data := make([]byte, 4096)
	for _, mode := range []string{"rename", "exchange"} {
		b.Run(mode, func(b *testing.B) {
			d, err := OpenDir(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			write := func(name string) {
				f, err := d.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				f.Write(data)
				f.Close()
			}
			write("target")
			for b.Loop() {
				write("tmp")
				if mode == "rename" {
					err = d.Rename("tmp", "target")
				} else if err = d.Exchange("tmp", "target"); err == nil {
					if _, err = d.Lstat("tmp"); err == nil {
						err = d.Remove("tmp")
					}
				}
				if errors.Is(err, errors.ErrUnsupported) {
					b.Skip("no exchange here")
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
