// Windows reparse points that are files with content of their own: Go's os package
// reports every reparse point it does not know as fs.ModeIrregular, among them each
// file of a OneDrive folder (Cloud Files placeholders, hydrated or not) and each file
// compressed with `compact /exe` (WOF), which would leave such a folder unsynced
// ("special file"). Dir gives those their regular mode back (Windows only; the
// helpers are portable so that the decision is tested everywhere).

package fsys

import "io/fs"

// regularReparseTag reports whether a file with the Windows reparse tag tag holds
// content of its own, read and written like a regular file: Cloud Files placeholders
// (OneDrive, other cloud providers: IO_REPARSE_TAG_CLOUD and CLOUD_1 … CLOUD_F, and
// the older IO_REPARSE_TAG_ONEDRIVE), WOF-compressed files, Azure File Sync, HSM and
// deduplicated files. Links (symlinks, junctions, WSL symlinks: name surrogates),
// app execution aliases, sockets and WSL special files stay special.
func regularReparseTag(tag uint32) bool {
	if tag&^0xf000 == 0x9000001a { // IO_REPARSE_TAG_CLOUD, CLOUD_1 … CLOUD_F
		return true
	}
	switch tag {
	case 0x80000017, // IO_REPARSE_TAG_WOF
		0x80000021, // IO_REPARSE_TAG_ONEDRIVE
		0x8000001e, // IO_REPARSE_TAG_STORAGE_SYNC
		0xc0000004, // IO_REPARSE_TAG_HSM
		0x80000006, // IO_REPARSE_TAG_HSM2
		0x80000013: // IO_REPARSE_TAG_DEDUP
		return true
	}
	return false
}

// regularInfo is a FileInfo whose mode is that of a regular file.
type regularInfo struct{ fs.FileInfo }

func (r regularInfo) Mode() fs.FileMode { return r.FileInfo.Mode() &^ fs.ModeIrregular }

// regularEntry is a DirEntry of a regular file (its Info a regularInfo).
type regularEntry struct{ fs.DirEntry }

func (e regularEntry) Type() fs.FileMode { return e.DirEntry.Type() &^ fs.ModeIrregular }

func (e regularEntry) Info() (fs.FileInfo, error) {
	fi, err := e.DirEntry.Info()
	if err != nil {
		return nil, err
	}
	return regularInfo{fi}, nil
}

// irregularFile reports whether m is the mode of a non-directory Go calls irregular:
// the only ones whose reparse tag is worth a look.
func irregularFile(m fs.FileMode) bool { return m&fs.ModeIrregular != 0 && !m.IsDir() }

// regularEntries returns des with each irregular file whose reparse tag (tagOf, by
// name) holds content of its own turned regular.
func regularEntries(des []fs.DirEntry, tagOf func(name string) uint32) []fs.DirEntry {
	for i, de := range des {
		if irregularFile(de.Type()) && regularReparseTag(tagOf(de.Name())) {
			des[i] = regularEntry{de}
		}
	}
	return des
}
