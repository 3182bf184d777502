package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

const sampleStatus = `Name:	hookrelay
Umask:	0022
State:	S (sleeping)
Pid:	4242
VmPeak:	 1300000 kB
VmSize:	 1290000 kB
VmHWM:	  204800 kB
VmRSS:	  102400 kB
RssAnon:	   90000 kB
Threads:	12
`

func TestParseStatus(t *testing.T) {
	m, err := parseStatus(sampleStatus)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 100<<20 || m.HWM != 200<<20 {
		t.Errorf("parseStatus = %+v, want RSS 100 MiB and HWM 200 MiB", m)
	}
}

func TestParseStatusErrors(t *testing.T) {
	for name, s := range map[string]string{
		"missing":    "Name:\tx\nVmRSS:\t 1 kB\n",
		"bad number": "VmHWM:\t x kB\nVmRSS:\t 1 kB\n",
		"bad unit":   "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n",
		"empty":      "",
	} {
		if _, err := parseStatus(s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseStat(t *testing.T) {
	// Field 2 holds spaces and a ')' to prove fields are counted from the last one.
	stat := "4242 (hook relay) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 1290000 25600 18446744073709551615"
	got, err := parseStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want { // (250+75) ticks at 100 Hz
		t.Errorf("parseStat = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 1"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestReadSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	pid := os.Getpid()
	m, err := ReadMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS == 0 || m.HWM < m.RSS {
		t.Errorf("ReadMem(self) = %+v", m)
	}
	if _, err := ReadCPU(pid); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMem(-1); err == nil || !strings.Contains(err.Error(), "pid -1") {
		t.Errorf("ReadMem(-1) error = %v", err)
	}
}
