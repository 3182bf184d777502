package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// boolValue is a boolean flag whose error names the accepted values; the
// standard one only says "parse error".
type boolValue struct{ p *bool }

func (b boolValue) String() string {
	if b.p == nil {
		return "false"
	}
	return strconv.FormatBool(*b.p)
}

func (b boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not a boolean: use true or false (also accepted: 1, 0, t, f)")
	}
	*b.p = v
	return nil
}

// IsBoolFlag lets the flag be given without a value (--dev-allow-localhost).
func (b boolValue) IsBoolFlag() bool { return true }

// BoolVar defines a boolean flag with a helpful error.
func BoolVar(fs *flag.FlagSet, p *bool, name string, def bool, usage string) {
	*p = def
	fs.Var(boolValue{p}, name, usage)
}

// durationValue is a duration flag whose error shows the expected form.
type durationValue struct{ p *time.Duration }

func (d durationValue) String() string {
	if d.p == nil {
		return "0s"
	}
	return shortDuration(*d.p)
}

func (d durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration: use a number with a unit, such as 30s, 5m or 1h30m")
	}
	*d.p = v
	return nil
}

// DurationVar defines a duration flag with a helpful error.
func DurationVar(fs *flag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var(durationValue{p}, name, usage)
}

// shortDuration drops the zero units Go prints ("720h0m0s" → "720h").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// PrintFlags prints fs's flags in the one style every hookrelay command
// uses: the flag with its value's name, then what it does, its default and
// the environment variable that sets it (env returns "" when none does).
func PrintFlags(w io.Writer, fs *flag.FlagSet, env func(flagName string) string) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		switch f.Value.(type) {
		case boolValue:
			name = ""
		case durationValue:
			if name == "value" {
				name = "duration"
			}
		}
		head := "  --" + f.Name
		if name != "" {
			head += " " + name
		}
		var notes []string
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			notes = append(notes, "default "+f.DefValue)
		}
		if env != nil {
			if e := env(f.Name); e != "" {
				notes = append(notes, "env "+e)
			}
		}
		fmt.Fprintf(w, "%s\n      %s", head, usage)
		if len(notes) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(notes, "; "))
		}
		fmt.Fprintln(w)
	})
}
