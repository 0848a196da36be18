package fsys

import "golang.org/x/sys/unix"

// DiskFree reports the bytes available to unprivileged users on the file system of
// path (statfs(2), whose fields are named f_* on OpenBSD).
func DiskFree(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint64(max(st.F_bavail, 0)) * uint64(st.F_bsize), nil
}
