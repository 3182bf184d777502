//go:build !unix

package sqlite

func freeBytes(string) (uint64, bool) { return 0, false }
