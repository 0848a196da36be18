// Kernel releases: whether the running kernel is recent enough for a feature.

package fsys

import "strconv"

// releaseAtLeast reports whether the kernel release rel (uname -r: "6.18.0-rc1",
// "5.7.19-foo") is at least major.minor. A release that does not begin with
// MAJOR.MINOR counts as older.
func releaseAtLeast(rel string, major, minor int) bool {
	maj, mnr, ok := parseRelease(rel)
	if !ok {
		return false
	}
	return maj > major || maj == major && mnr >= minor
}

// parseRelease reads the leading MAJOR.MINOR of a kernel release; whatever follows
// the minor number (".19-foo", "-rc1", "+") is ignored.
func parseRelease(rel string) (major, minor int, ok bool) {
	major, rest, ok := leadingNumber(rel)
	if !ok || len(rest) == 0 || rest[0] != '.' {
		return 0, 0, false
	}
	minor, _, ok = leadingNumber(rest[1:])
	if !ok {
		return 0, 0, false
	}
	return major, minor, true
}

// leadingNumber parses the decimal digits s begins with (at most 9) and returns the
// rest of s.
func leadingNumber(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 9 {
		return 0, s, false
	}
	n, err := strconv.Atoi(s[:i])
	return n, s[i:], err == nil
}
