//go:build !(darwin || freebsd || openbsd || netbsd || dragonfly)

package fsys

// watchCost: inotify (Linux) and ReadDirectoryChangesW (Windows) hold one watch per
// directory and no descriptor per entry: nothing to count.
func watchCost() WatchCost { return WatchCost{} }
