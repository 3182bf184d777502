package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// The admin commands open the database directly: they are how an operator
// bootstraps the first keys, before any API key exists. Each is thin over
// one action of the operations layer, the one the API and the dashboard
// call, so the rules and their messages are the same; output is JSON with the API's field names
// (an object, or an array for list), except that creating a key prints
// the key alone, so that KEY=$(hookrelay admin … create) captures it.

// adminEnv is what an admin command's run function gets.
type adminEnv struct {
	ops    *operations.Ops
	cmd    string // "member create", for usage errors
	stdin  io.Reader
	stdout io.Writer
	quiet  bool
}

// adminCmd is one `hookrelay admin <object> <verb>`. define registers its
// flags (beside --database) and returns the function that runs it.
type adminCmd struct {
	object, verb string
	synopsis     string
	about        string
	quiet        bool // takes --quiet: print ids only
	define       func(fs *flag.FlagSet) func(ctx context.Context, e *adminEnv) error
}

func (c adminCmd) path() string { return "admin " + c.object + " " + c.verb }

// adminObjects lists the objects in help order, each with what it is.
var adminObjects = [][2]string{
	{"operator-key", "keys that act on every account (the platform's own)"},
	{"account", "customers of the operator (tenants)"},
	{"api-key", "an account's API keys, scoped"},
	{"member", "an account's dashboard logins"},
	{"event-type", "the catalog of event types that can be published"},
}

var adminCmds = []adminCmd{
	{object: "operator-key", verb: "create", synopsis: "[--name N]",
		about: "Creates an operator key and prints it; it is shown this once (only its hash is stored).",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			name := fs.String("name", "operator", "a `name` to recognise the key by")
			return func(ctx context.Context, e *adminEnv) error {
				k, err := e.ops.OperatorKeyCreate(ctx, *name)
				if err != nil {
					return e.fail(err, "")
				}
				_, err = fmt.Fprintln(e.stdout, k.Key)
				return err
			}
		}},
	{object: "operator-key", verb: "list", about: "Lists the operator keys, newest first, revoked ones too.", quiet: true,
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			return func(ctx context.Context, e *adminEnv) error { return listKeys(ctx, e, "") }
		}},
	{object: "operator-key", verb: "revoke", synopsis: "--id key_…",
		about: "Revokes an operator key at once and prints it.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			id := fs.String("id", "", "the key's `id` (key_…, from operator-key list)")
			return func(ctx context.Context, e *adminEnv) error { return revokeKey(ctx, e, "", *id) }
		}},

	{object: "account", verb: "create", synopsis: "--name N", quiet: true,
		about: "Creates an account and prints it.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			name := fs.String("name", "", "the account's `name`")
			return func(ctx context.Context, e *adminEnv) error {
				if *name == "" {
					return errRequired("account create", "--name")
				}
				a, err := e.ops.AccountCreate(ctx, name)
				if err != nil {
					return e.fail(err, "")
				}
				return e.print(toAccount(a))
			}
		}},
	{object: "account", verb: "list", synopsis: "[--search TEXT]", quiet: true,
		about: "Lists the accounts, newest first, the reserved operator account included.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			search := fs.String("search", "", "only accounts whose name contains this `text`")
			return func(ctx context.Context, e *adminEnv) error {
				items, err := all(func(cursor string) (store.Page[webhook.Account], error) {
					return e.ops.AccountList(ctx, *search, cursor, operations.MaxPageLimit)
				})
				if err != nil {
					return e.fail(err, "")
				}
				return printList(e, mapSlice(items, toAccount))
			}
		}},
	{object: "account", verb: "delete", synopsis: "--id acc_…",
		about: "Deletes an account and everything it owns (API keys, members, endpoints, events, the\n" +
			"delivery log, credit alerts) and prints the account. This cannot be undone.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			id := fs.String("id", "", "the account's `id` (acc_…)")
			return func(ctx context.Context, e *adminEnv) error {
				if *id == "" {
					return errRequired("account delete", "--id")
				}
				a, err := e.ops.AccountDelete(ctx, *id)
				if err != nil {
					return e.fail(err, "hookrelay admin account list")
				}
				return e.print(toAccount(a))
			}
		}},

	{object: "api-key", verb: "create", synopsis: "--account ID --scopes a,b [--name N]",
		about: "Creates an API key for an account and prints it; it is shown this once.\nScopes: " + strings.Join(auth.Scopes, ", ") + ".",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			account := fs.String("account", "", "the account's `id` (acc_…)")
			scopes := fs.String("scopes", "", "comma-separated `scopes`: "+strings.Join(auth.Scopes, ","))
			name := fs.String("name", "default", "a `name` to recognise the key by")
			return func(ctx context.Context, e *adminEnv) error {
				if *account == "" || *scopes == "" {
					return errRequired("api-key create", "--account and --scopes")
				}
				list := splitList(*scopes)
				if _, err := operations.Scopes(list); err != nil { // a bad flag is a usage error, whatever the account
					return e.fail(err, "")
				}
				k, err := e.ops.APIKeyCreate(ctx, operations.Operator, *account, name, list)
				if err != nil {
					return e.fail(err, "hookrelay admin account list")
				}
				_, err = fmt.Fprintln(e.stdout, k.Key)
				return err
			}
		}},
	{object: "api-key", verb: "list", synopsis: "--account ID", quiet: true,
		about: "Lists an account's API keys, newest first, revoked ones too (never the keys themselves).",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			account := fs.String("account", "", "the account's `id` (acc_…)")
			return func(ctx context.Context, e *adminEnv) error {
				if *account == "" {
					return errRequired("api-key list", "--account")
				}
				if _, err := e.ops.Account(ctx, *account); err != nil {
					return e.fail(err, "hookrelay admin account list")
				}
				return listKeys(ctx, e, *account)
			}
		}},
	{object: "api-key", verb: "revoke", synopsis: "--account ID --id key_…",
		about: "Revokes an account's API key at once and prints it.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			account := fs.String("account", "", "the account's `id` (acc_…)")
			id := fs.String("id", "", "the key's `id` (key_…, from api-key list)")
			return func(ctx context.Context, e *adminEnv) error {
				if *account == "" {
					return errRequired("api-key revoke", "--account")
				}
				return revokeKey(ctx, e, *account, *id)
			}
		}},

	{object: "member", verb: "create", synopsis: "--account ID --email E --role R --password-stdin", quiet: true,
		about: "Adds a dashboard login to an account and prints it. The password is read from standard\n" +
			"input, never from an argument. The first member must be the primary-owner.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			account := fs.String("account", "", "the account's `id` (acc_…)")
			email := fs.String("email", "", "the member's e-mail `address`")
			role := fs.String("role", "", "the member's `role`: primary-owner, owner or member")
			var passwordStdin bool
			config.BoolVar(fs, &passwordStdin, "password-stdin", false, "read the password from standard input (required)")
			return func(ctx context.Context, e *adminEnv) error {
				if *account == "" || *email == "" || *role == "" {
					return errRequired("member create", "--account, --email and --role")
				}
				if !passwordStdin {
					return usageErrorf("member create", "--password-stdin is required: passwords are never taken as arguments (echo \"$PASSWORD\" | hookrelay admin member create … --password-stdin)")
				}
				line, err := bufio.NewReader(e.stdin).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read password: %w", err)
				}
				password := strings.TrimRight(line, "\r\n")
				m, err := e.ops.MemberCreate(ctx, operations.Operator, *account, operations.MemberInput{Email: email, Role: role, Password: &password})
				if err != nil {
					return e.fail(err, "hookrelay admin account list")
				}
				return e.print(toMember(m))
			}
		}},
	{object: "member", verb: "list", synopsis: "--account ID", quiet: true,
		about: "Lists an account's members in the order they were added.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			account := fs.String("account", "", "the account's `id` (acc_…)")
			return func(ctx context.Context, e *adminEnv) error {
				if *account == "" {
					return errRequired("member list", "--account")
				}
				if _, err := e.ops.Account(ctx, *account); err != nil {
					return e.fail(err, "hookrelay admin account list")
				}
				items, err := all(func(cursor string) (store.Page[webhook.Member], error) {
					return e.ops.MemberList(ctx, *account, cursor, operations.MaxPageLimit)
				})
				if err != nil {
					return e.fail(err, "")
				}
				return printList(e, mapSlice(items, toMember))
			}
		}},
	{object: "member", verb: "delete", synopsis: "--account ID --id mem_…",
		about: "Removes a member and prints it. The primary-owner cannot be removed: make another\nmember primary-owner first (PATCH /v1/accounts/{account_id}/members/{member_id}).",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			account := fs.String("account", "", "the account's `id` (acc_…)")
			id := fs.String("id", "", "the member's `id` (mem_…, from member list)")
			return func(ctx context.Context, e *adminEnv) error {
				if *account == "" || *id == "" {
					return errRequired("member delete", "--account and --id")
				}
				m, err := e.ops.MemberDelete(ctx, operations.Operator, *account, *id)
				if err != nil {
					return e.fail(err, "hookrelay admin member list --account "+*account)
				}
				return e.print(toMember(m))
			}
		}},

	{object: "event-type", verb: "create", synopsis: "--name N --description D [--example JSON]", quiet: true,
		about: "Adds an event type to the catalog, so that endpoints can subscribe to it and events of\nit can be published; prints it.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			name := fs.String("name", "", "the type's `name`, such as generation.completed")
			description := fs.String("description", "", "what the event means, shown to the accounts (`text`)")
			example := fs.String("example", "", "an example payload, a `JSON` object")
			return func(ctx context.Context, e *adminEnv) error {
				t, err := e.ops.EventTypeCreate(ctx, operations.EventTypeInput{Name: name, Description: description,
					Example: json.RawMessage(*example)})
				if err != nil {
					return e.fail(err, "hookrelay admin event-type list")
				}
				return e.print(toEventType(t))
			}
		}},
	{object: "event-type", verb: "list", quiet: true,
		about: "Lists the catalog by name, the reserved types included.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			return func(ctx context.Context, e *adminEnv) error {
				types, err := e.ops.EventTypes(ctx)
				if err != nil {
					return err
				}
				return printList(e, mapSlice(types, toEventType))
			}
		}},
	{object: "event-type", verb: "delete", synopsis: "--name N",
		about: "Removes an event type from the catalog and prints it. A type an endpoint subscribes to is\n" +
			"kept: deprecate it instead. Events already published keep their type.",
		define: func(fs *flag.FlagSet) func(context.Context, *adminEnv) error {
			name := fs.String("name", "", "the type's `name`")
			return func(ctx context.Context, e *adminEnv) error {
				if *name == "" {
					return errRequired("event-type delete", "--name")
				}
				t, err := e.ops.EventTypeDelete(ctx, *name)
				if err != nil {
					return e.fail(err, "hookrelay admin event-type list")
				}
				return e.print(toEventType(t))
			}
		}},
}

func admin(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) == 0 {
			return usageErrorf("admin", "missing what to manage: %s", objectNames())
		}
		fmt.Fprint(stdout, adminHelp(""))
		return nil
	}
	object := args[0]
	if !knownObject(object) {
		return usageErrorf("admin", "unknown admin object %q: use %s", object, objectNames())
	}
	if len(args) == 1 || isHelp(args[1]) {
		if len(args) == 1 {
			return usageErrorf("admin "+object, "missing what to do: %s", verbsOf(object))
		}
		fmt.Fprint(stdout, adminHelp(object))
		return nil
	}
	verb := args[1]
	var cmd *adminCmd
	for i := range adminCmds {
		if adminCmds[i].object == object && adminCmds[i].verb == verb {
			cmd = &adminCmds[i]
		}
	}
	if cmd == nil {
		return usageErrorf("admin "+object, "unknown %s command %q: use %s", object, verb, verbsOf(object))
	}

	fs := newFlags(cmd.path())
	runCmd := cmd.define(fs)
	database := fs.String("database", "hookrelay.db", "the SQLite `file` serve uses")
	var quiet bool
	if cmd.quiet {
		what := "print only the id, for scripts"
		if cmd.verb == "list" {
			what = "print only the ids, one per line, for scripts"
		}
		config.BoolVar(fs, &quiet, "quiet", false, what)
	}
	synopsis := strings.TrimSpace(cmd.synopsis + " [--database FILE]")
	if cmd.quiet {
		synopsis += " [--quiet]"
	}
	s := spec{command: cmd.path(), synopsis: synopsis, about: cmd.about, env: envOnly("database")}
	if err := parse(s, fs, args[2:], stdout); err != nil {
		return err
	}
	if err := fromEnv(cmd.path(), fs, "database"); err != nil {
		return err
	}
	st, err := app.OpenStore(ctx, &config.Config{Database: *database}, app.StoreOptions{}) // only serve and migrate create a database
	if err != nil {
		return err
	}
	defer st.Close()
	ops := operations.New(operations.Deps{Store: st, Catalog: intake.NewCatalog(st, time.Second)})
	return runCmd(ctx, &adminEnv{ops: ops, cmd: cmd.object + " " + cmd.verb, stdin: stdin, stdout: stdout, quiet: quiet})
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

func knownObject(object string) bool {
	for _, o := range adminObjects {
		if o[0] == object {
			return true
		}
	}
	return false
}

func objectNames() string {
	names := make([]string, len(adminObjects))
	for i, o := range adminObjects {
		names[i] = o[0]
	}
	return strings.Join(names, ", ")
}

func verbsOf(object string) string {
	var verbs []string
	for _, c := range adminCmds {
		if c.object == object {
			verbs = append(verbs, c.verb)
		}
	}
	return strings.Join(verbs, ", ")
}

// adminHelp lists every admin command, or one object's.
func adminHelp(object string) string {
	var b strings.Builder
	if object == "" {
		b.WriteString("Usage: hookrelay admin <object> <command> [flags]\n\n" +
			"Manages the database directly (serve may be running): how the first operator key is made.\n" +
			"Output is JSON with the API's field names; creating a key prints only the key.\n")
	} else {
		fmt.Fprintf(&b, "Usage: hookrelay admin %s <command> [flags]\n", object)
	}
	for _, o := range adminObjects {
		if object != "" && o[0] != object {
			continue
		}
		fmt.Fprintf(&b, "\n%s: %s\n", o[0], o[1])
		for _, c := range adminCmds {
			if c.object == o[0] {
				fmt.Fprintf(&b, "  %s\n", strings.TrimSpace("hookrelay "+c.path()+" "+c.synopsis))
			}
		}
	}
	b.WriteString("\nRun 'hookrelay admin <object> <command> --help' for a command's flags.\n")
	return b.String()
}

func errRequired(command, flags string) error {
	return usageErrorf("admin "+command, "%s required", flags)
}

// fail words an action's refusal for the command line, in the words the
// API and the dashboard use: bad input names the flag that gave it (a
// usage error), a missing object says which list to look in.
func (e *adminEnv) fail(err error, list string) error {
	r, ok := operations.AsError(err)
	if !ok {
		return err
	}
	switch r.Kind {
	case operations.Invalid:
		flagName := "--" + r.Field
		if r.Field == "password" {
			flagName = "--password-stdin"
		}
		return usageErrorf("admin "+e.cmd, "%s: %s", flagName, r.Message)
	case operations.NotFound:
		if list != "" {
			return fmt.Errorf("%s; see: %s", r.Message, list)
		}
	}
	return errors.New(r.Message)
}

func listKeys(ctx context.Context, e *adminEnv, account string) error {
	items, err := all(func(cursor string) (store.Page[webhook.APIKey], error) {
		return e.ops.APIKeyList(ctx, account, cursor, operations.MaxPageLimit)
	})
	if err != nil {
		return err
	}
	return printList(e, mapSlice(items, toAPIKey))
}

func revokeKey(ctx context.Context, e *adminEnv, account, id string) error {
	command, list := "operator-key revoke", "hookrelay admin operator-key list"
	if account != "" {
		command, list = "api-key revoke", "hookrelay admin api-key list --account "+account
	}
	if id == "" {
		return errRequired(command, "--id")
	}
	k, err := e.ops.APIKeyRevoke(ctx, operations.Operator, account, id)
	if err != nil {
		return e.fail(err, list)
	}
	return e.print(toAPIKey(k))
}

// all reads every page of a list.
func all[T any](page func(cursor string) (store.Page[T], error)) ([]T, error) {
	var out []T
	cursor := ""
	for {
		p, err := page(cursor)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.NextCursor == "" {
			return out, nil
		}
		cursor = p.NextCursor
	}
}

func mapSlice[T, V any](items []T, f func(T) V) []V {
	out := make([]V, len(items))
	for i, it := range items {
		out[i] = f(it)
	}
	return out
}

// The objects as admin prints them: the API's field names, plus the
// account an object belongs to (admin works across accounts).

type identified interface{ id() string }

type accountJSON struct {
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
}

func (a accountJSON) id() string { return a.AccountID }

type apiKeyJSON struct {
	APIKeyID  string   `json:"api_key_id"`
	AccountID *string  `json:"account_id"` // null for an operator key
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	KeyPrefix string   `json:"key_prefix"`
	CreatedAt string   `json:"created_at"`
	RevokedAt *string  `json:"revoked_at"`
}

func (k apiKeyJSON) id() string { return k.APIKeyID }

type memberJSON struct {
	MemberID  string `json:"member_id"`
	AccountID string `json:"account_id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

func (m memberJSON) id() string { return m.MemberID }

type eventTypeJSON struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Example     json.RawMessage `json:"example"`
	Deprecated  bool            `json:"deprecated"`
	Reserved    bool            `json:"reserved"`
}

func (t eventTypeJSON) id() string { return t.Name }

const timeFormat = "2006-01-02T15:04:05.000Z" // as the API writes times

func toAccount(a webhook.Account) accountJSON {
	return accountJSON{AccountID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt.UTC().Format(timeFormat)}
}

func toAPIKey(k webhook.APIKey) apiKeyJSON {
	v := apiKeyJSON{APIKeyID: k.ID, Name: k.Name, Scopes: k.Scopes, KeyPrefix: k.Prefix, CreatedAt: k.CreatedAt.UTC().Format(timeFormat)}
	if k.AccountID != "" {
		v.AccountID = &k.AccountID
	}
	if k.RevokedAt != nil {
		s := k.RevokedAt.UTC().Format(timeFormat)
		v.RevokedAt = &s
	}
	return v
}

func toMember(m webhook.Member) memberJSON {
	return memberJSON{MemberID: m.ID, AccountID: m.AccountID, Email: m.Email, Role: m.Role, CreatedAt: m.CreatedAt.UTC().Format(timeFormat)}
}

func toEventType(t webhook.EventType) eventTypeJSON {
	ex := t.Example
	if len(ex) == 0 {
		ex = json.RawMessage("null")
	}
	return eventTypeJSON{Name: t.Name, Description: t.Description, Example: ex, Deprecated: t.Deprecated, Reserved: t.Reserved}
}

func (e *adminEnv) print(v identified) error {
	if e.quiet {
		_, err := fmt.Fprintln(e.stdout, v.id())
		return err
	}
	return printJSON(e.stdout, v)
}

func printList[V identified](e *adminEnv, items []V) error {
	if e.quiet {
		for _, it := range items {
			if _, err := fmt.Fprintln(e.stdout, it.id()); err != nil {
				return err
			}
		}
		return nil
	}
	return printJSON(e.stdout, items)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
