package fsys

import "strings"

// LongPath returns the Win32 extended-length form of the absolute Windows path p
// (`\\?\C:\dir\file`, `\\?\UNC\server\share\file`), so that paths over MAX_PATH (260
// characters) work in Win32 calls. p must be absolute and clean; forward slashes are
// turned into backslashes (the \\?\ form takes the path literally). A path already in
// that form is returned as is. Pure string work, so it is tested on every platform.
func LongPath(p string) string {
	p = strings.ReplaceAll(p, "/", `\`)
	switch {
	case strings.HasPrefix(p, `\\?\`), strings.HasPrefix(p, `\??\`):
		return p
	case strings.HasPrefix(p, `\\.\`):
		return p // a device path: no length limit either
	case strings.HasPrefix(p, `\\`):
		return `\\?\UNC\` + p[2:]
	case len(p) >= 3 && p[1] == ':' && p[2] == '\\':
		return `\\?\` + p
	}
	return p // relative or drive-relative: not eligible, left alone
}
