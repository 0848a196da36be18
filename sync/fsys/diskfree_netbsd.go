package fsys

import "golang.org/x/sys/unix"

// DiskFree reports the bytes available to unprivileged users on the file system of
// path (statvfs(2): NetBSD has no statfs).
func DiskFree(path string) (uint64, error) {
	var st unix.Statvfs_t
	if err := unix.Statvfs(path, &st); err != nil {
		return 0, err
	}
	return st.Bavail * st.Frsize, nil
}
