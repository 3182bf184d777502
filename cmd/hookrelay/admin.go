package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// admin commands write straight to the database: they are how an operator
// bootstraps the first keys, before any API key exists.
func admin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[1] != "create" {
		fmt.Fprint(stderr, usage)
		return errors.New("usage: hookrelay admin <operator-key|account|api-key|member|event-type> create [flags]")
	}
	what := args[0]
	fs := flag.NewFlagSet("admin "+what+" create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	database := fs.String("database", "hookrelay.db", "SQLite file or postgres:// URL (env HOOKRELAY_DATABASE)")
	name := fs.String("name", "", "name")
	account := fs.String("account", "", "account id (acc_…)")
	scopes := fs.String("scopes", "", "comma-separated scopes: "+strings.Join(auth.Scopes, ","))
	email := fs.String("email", "", "member e-mail")
	role := fs.String("role", "", "member role: primary-owner, owner or member")
	passwordStdin := fs.Bool("password-stdin", false, "read the member's password from standard input")
	description := fs.String("description", "", "event type description")
	example := fs.String("example", "", "event type example payload (a JSON object)")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if !isFlagSet(fs, "database") {
		if v, ok := os.LookupEnv(config.EnvName("database")); ok {
			*database = v
		}
	}
	cfg := &config.Config{Database: *database}
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now().UTC()

	switch what {
	case "operator-key":
		key, hash := auth.NewKey(true)
		n := *name
		if n == "" {
			n = "operator"
		}
		if _, err := st.APIKeyCreate(ctx, store.APIKeyCreateParams{ID: webhook.NewID("key", now), Name: n,
			Prefix: auth.DisplayPrefix(key), Hash: hash, Scopes: auth.Scopes, Now: now}); err != nil {
			return err
		}
		fmt.Fprintln(stdout, key)
	case "account":
		if *name == "" {
			return errors.New("--name is required")
		}
		a, err := st.AccountCreate(ctx, store.AccountCreateParams{ID: webhook.NewID("acc", now), Name: *name, Now: now})
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]string{"account_id": a.ID, "name": a.Name, "created_at": a.CreatedAt.Format(time.RFC3339)})
	case "api-key":
		if *account == "" {
			return errors.New("--account is required")
		}
		list := splitList(*scopes)
		if err := auth.ValidateScopes(list); err != nil {
			return fmt.Errorf("--scopes: %w", err)
		}
		if _, err := st.AccountGet(ctx, *account); err != nil {
			return fmt.Errorf("--account %s: %w", *account, err)
		}
		key, hash := auth.NewKey(false)
		n := *name
		if n == "" {
			n = "default"
		}
		if _, err := st.APIKeyCreate(ctx, store.APIKeyCreateParams{ID: webhook.NewID("key", now), AccountID: *account,
			Name: n, Prefix: auth.DisplayPrefix(key), Hash: hash, Scopes: list, Now: now}); err != nil {
			return err
		}
		fmt.Fprintln(stdout, key)
	case "member":
		if *account == "" || *email == "" || *role == "" {
			return errors.New("--account, --email and --role are required")
		}
		switch *role {
		case webhook.RolePrimaryOwner, webhook.RoleOwner, webhook.RoleMember:
		default:
			return fmt.Errorf("--role %q: must be primary-owner, owner or member", *role)
		}
		if !*passwordStdin {
			return errors.New("--password-stdin is required: passwords are never taken as arguments")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		hash, err := auth.HashPassword(strings.TrimRight(line, "\r\n"))
		if err != nil {
			return err
		}
		if _, err := st.AccountGet(ctx, *account); err != nil {
			return fmt.Errorf("--account %s: %w", *account, err)
		}
		m, err := st.MemberCreate(ctx, store.MemberCreateParams{ID: webhook.NewID("mem", now), AccountID: *account,
			Email: strings.ToLower(strings.TrimSpace(*email)), Role: *role, PasswordHash: hash, Now: now})
		if err != nil {
			return err // the store says why: a taken e-mail, or the primary-owner rule
		}
		return printJSON(stdout, map[string]string{"member_id": m.ID, "account_id": m.AccountID, "email": m.Email, "role": m.Role})
	case "event-type":
		if err := webhook.ValidateEventTypeName(*name); err != nil {
			return fmt.Errorf("--name %q: %w", *name, err)
		}
		if webhook.IsReservedEventType(*name) {
			return fmt.Errorf("--name %q is reserved", *name)
		}
		var ex json.RawMessage
		if *example != "" {
			if !json.Valid([]byte(*example)) || !strings.HasPrefix(strings.TrimSpace(*example), "{") {
				return errors.New("--example must be a JSON object")
			}
			ex = json.RawMessage(*example)
		}
		t, err := st.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: *name, Description: *description, Example: ex, Now: now})
		if errors.Is(err, webhook.ErrConflict) {
			return fmt.Errorf("event type %q already exists", *name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, t.Name)
	default:
		return fmt.Errorf("unknown admin object %q", what)
	}
	return nil
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
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
	return enc.Encode(v)
}
