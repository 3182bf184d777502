//go:build unix

package sqlite

import "syscall"

// freeBytes is the space left to this process on the filesystem holding
// path, or false when it cannot be told.
func freeBytes(path string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
