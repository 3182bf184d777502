package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Mem is a process's resident memory, from /proc/<pid>/status.
type Mem struct {
	RSS uint64 // VmRSS, bytes: resident now
	HWM uint64 // VmHWM, bytes: peak resident since the process started
}

// ReadMem reads VmRSS and VmHWM of pid (Linux only).
func ReadMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	m, err := parseStatus(string(b))
	if err != nil {
		return Mem{}, fmt.Errorf("parse /proc/%d/status: %w", pid, err)
	}
	return m, nil
}

// parseStatus extracts VmRSS and VmHWM ("VmRSS:	  123456 kB") from the
// text of /proc/<pid>/status.
func parseStatus(s string) (Mem, error) {
	var m Mem
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) != 2 || fields[1] != "kB" {
			return Mem{}, fmt.Errorf("%s: unexpected value %q", key, strings.TrimSpace(val))
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return Mem{}, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmRSS" {
			m.RSS, haveRSS = kb*1024, true
		} else {
			m.HWM, haveHWM = kb*1024, true
		}
	}
	if err := sc.Err(); err != nil {
		return Mem{}, err
	}
	if !haveRSS || !haveHWM {
		return Mem{}, fmt.Errorf("VmRSS or VmHWM missing (is the process a zombie?)")
	}
	return m, nil
}

// userHZ is the unit of the times in /proc/<pid>/stat. The kernel exports
// them in USER_HZ, which is 100 on every Linux architecture Go supports.
const userHZ = 100

// ReadCPU returns the CPU time (user + system) pid has used (Linux only).
func ReadCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of pid %d: %w", pid, err)
	}
	d, err := parseStat(string(b))
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return d, nil
}

// parseStat returns utime+stime from the text of /proc/<pid>/stat. The
// command name (field 2) is in parentheses and may itself contain spaces
// and parentheses, so fields are counted from the last ')'.
func parseStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' after the command name")
	}
	// After ')': field 3 (state) is rest[0]; utime is field 14, stime 15.
	rest := strings.Fields(s[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(rest) <= stime {
		return 0, fmt.Errorf("only %d fields after the command name", len(rest))
	}
	var ticks uint64
	for _, f := range []int{utime, stime} {
		v, err := strconv.ParseUint(rest[f], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("field %d: %w", f+3, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
