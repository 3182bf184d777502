//go:build !linux

package bench

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }

func selfCPU() float64 { return 0 }
