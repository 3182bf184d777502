package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hookrelay/hookrelay/internal/config"
)

// errHelpShown ends a command whose help was asked for and printed: exit 0.
var errHelpShown = errors.New("help shown")

// usageError is a command line that cannot be run as given: main prints it
// on one line with a hint to the command's help, and exits 2.
type usageError struct {
	command string // "serve", "admin api-key create"
	msg     string
}

func (e *usageError) Error() string { return e.msg }

func (e *usageError) hint() string {
	if e.command == "" {
		return "Run 'hookrelay --help' for the commands."
	}
	if e.command == "admin" || strings.Count(e.command, " ") == 1 && strings.HasPrefix(e.command, "admin ") {
		return fmt.Sprintf("Run 'hookrelay %s --help' for its commands.", e.command)
	}
	return fmt.Sprintf("Run 'hookrelay %s --help' for its flags.", e.command)
}

func usageErrorf(command, format string, args ...any) error {
	return &usageError{command: command, msg: fmt.Sprintf(format, args...)}
}

// spec describes one runnable command for its --help.
type spec struct {
	command  string // "admin api-key create"
	synopsis string // what follows the command: "--account ID --scopes a,b [--name N]"
	about    string // what it does, a few lines
	// env names the variable that sets a flag, "" when none does.
	env func(flagName string) string
}

// newFlags returns a flag set that prints nothing itself: parse reports.
func newFlags(command string) *flag.FlagSet {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args into fs. --help prints the command's help on stdout
// and returns errHelpShown; a bad flag or a stray argument is a usageError.
func parse(s spec, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, s, fs)
		return errHelpShown
	}
	if err != nil {
		return &usageError{command: s.command, msg: flagMessage(err)}
	}
	if fs.NArg() > 0 {
		return usageErrorf(s.command, "unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func printHelp(w io.Writer, s spec, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: hookrelay %s %s\n\n%s\n", s.command, s.synopsis, strings.TrimSpace(s.about))
	empty := true
	fs.VisitAll(func(*flag.Flag) { empty = false })
	if !empty {
		fmt.Fprint(w, "\nFlags:\n")
		config.PrintFlags(w, fs, s.env)
	}
}

// flagMessage rewrites the flag package's errors to name flags the way
// the help does (--name, not -name).
func flagMessage(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + strings.TrimPrefix(name, "-")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag --" + strings.TrimPrefix(name, "-") + " needs a value"
	}
	r := strings.NewReplacer(" for flag -", " for --", " for -", " for --")
	return r.Replace(msg)
}

// envOnly names the variable of the flags in names.
func envOnly(names ...string) func(string) string {
	return func(flag string) string {
		for _, n := range names {
			if n == flag {
				return config.EnvName(flag)
			}
		}
		return ""
	}
}

// fromEnv applies HOOKRELAY_<FLAG> to the flags in names that were not
// given on the command line (commands other than serve and migrate read
// only a few settings).
func fromEnv(command string, fs *flag.FlagSet, names ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, n := range names {
		if set[n] {
			continue
		}
		if v, ok := os.LookupEnv(config.EnvName(n)); ok {
			if err := fs.Set(n, v); err != nil {
				return usageErrorf(command, "%s: %v", config.EnvName(n), err)
			}
		}
	}
	return nil
}
