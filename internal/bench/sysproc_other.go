//go:build !linux

package bench

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }

func selfCPU() float64 { return 0 }

func raiseFileLimit(uint64) uint64 { return 0 }
