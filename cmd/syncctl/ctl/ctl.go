// Package ctl is syncctl, syncspace's ops CLI (SPEC §1), as an importable package:
// tenants, tokens, signing keys and the audit log, either on a data dir directly
// (local mode, --data, also while syncd runs) or through the admin API (remote mode,
// --server with an ops token file). cmd/syncctl's main only calls Run.
package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Usage is syncctl's help text.
const Usage = `usage: syncctl [mode flags] COMMAND [flags]

Modes:
  local (default)   --data DIR (default ./syncd-data) [--config FILE] [--key-dir DIR]
                    works on the data dir directly, also while syncd runs
  remote            --server URL --token-file FILE [--ca-file FILE]
                    calls the admin API with an ops token (team commands:
                    a tenant admin token, /api/team)
  cluster           --config FILE (a syncd config with "cluster"), or
                    --postgres URL --kek-file FILE
                    works on the cluster's database directly

Commands:
  tenant create NAME [--quota SIZE] [--max-file-size SIZE] [--max-entries N]
  tenant list
  tenant delete NAME --force
  token issue --tenant NAME --subject WHO --role read|write|admin [--ttl 720h] [--out FILE]
              [--path PREFIX]...                      (limit the token to these subtrees)
              [--link [--public-url URL]]  (print a web sign-in link instead of the token)
  token issue --ops --subject WHO [--ttl 24h]          (local mode only)
  token list [--tenant NAME | --ops] [--subject WHO] [--all]
  token revoke JTI
  token revoke --tenant NAME --subject WHO    (every token and device WHO holds now)
  token revoke --ops --subject WHO
  token issue --tenant NAME --subject WHO --role ROLE --device NAME --out FILE
              [--cert FILE] [--public-url URL]   (a device credential, refreshed by the client)
  device list [--tenant NAME]                          (last use, address, certificate thumbprint)
  device revoke ID                                     (its tokens stop working, sockets close)
  key rotate
  key list
  key retire KID                                       (tokens signed by KID stop working)
  audit [--limit N]
  cluster import --data DIR --config FILE    (move a single-node data dir, syncd stopped,
                                              into the cluster of FILE's "cluster" section)
  cluster new-epoch                          (cluster mode, after restoring PostgreSQL from
                                              a backup: every tenant starts a new epoch)

Team commands (remote mode with a tenant admin token; the tenant is the token's):
  team tokens                                         (tokens and devices)
  team issue --subject WHO --role read|write|admin [--ttl 720h] [--path PREFIX]...
  team issue --subject WHO --role read|write --device NAME --out FILE
  team revoke JTI | --subject WHO | --device NAME
  team audit [--limit N]

--json prints machine-readable output for every listing. SIZE accepts 10GiB, 500MB or
bytes; --ttl accepts Go durations (720h, 90m) or days (30d). Flags may stand before or
after the command. token issue prints the token on stdout and nothing else there; with
--out it writes a new file (0600) instead and refuses to overwrite one; with --link it
prints PUBLIC_URL/#token=... for the web app, PUBLIC_URL being --public-url, else the
config's web.public_url or listen address (--config), else the URL the syncd of the data
dir serves under (local mode), else --server (remote mode).
A device credential names --public-url, else the server's PUBLIC_URL (remote mode: as
the server gives it, not the admin address of --server).
Exit status: 0 success, 1 failure, 2 bad usage.
`

// Run runs syncctl with args (without the program name) and returns the exit code.
// Errors go to stderr as one line; output to stdout.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	p, err := parseArgs(args)
	if err != nil {
		return fail(stderr, err)
	}
	if p.has("help") || p.has("h") || (len(p.words) > 0 && p.words[0] == "help") {
		fmt.Fprint(stdout, Usage)
		return ExitOK
	}
	if len(p.words) == 0 {
		return fail(stderr, usagef("no command given"))
	}
	cmd, err := lookup(p)
	if err != nil {
		return fail(stderr, err)
	}
	if err := cmd.check(p); err != nil {
		return fail(stderr, err)
	}
	// Bad usage is exit 2 whatever the state of the data dir or the server.
	if cmd.validate != nil {
		if err := cmd.validate(p); err != nil {
			return fail(stderr, err)
		}
	}
	if cmd.direct != nil { // opens what it needs itself
		if err := cmd.direct(ctx, &runCtx{p: p, stdout: stdout, stderr: stderr}); err != nil {
			return fail(stderr, err)
		}
		return ExitOK
	}
	b, err := openBackend(ctx, p)
	if err != nil {
		return fail(stderr, err)
	}
	defer b.Close()
	if err := cmd.run(ctx, &runCtx{p: p, b: b, stdout: stdout, stderr: stderr}); err != nil {
		return fail(stderr, err)
	}
	return ExitOK
}

// fail prints err as one line and returns its exit code.
func fail(stderr io.Writer, err error) int {
	msg := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) {
		msg = pe.Message
		if pe.Code == protocol.CodeInternal && pe.Err != nil {
			msg = pe.Message + ": " + pe.Err.Error()
		}
	}
	msg = strings.ReplaceAll(strings.TrimSpace(msg), "\n", "; ")
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "syncctl: %s (run 'syncctl -h' for usage)\n", msg)
		return ExitUsage
	}
	fmt.Fprintf(stderr, "syncctl: %s\n", msg)
	return ExitFailure
}

func openBackend(ctx context.Context, p *parsed) (backend, error) {
	if p.has("server") {
		for _, f := range []string{"data", "config", "key-dir", "postgres", "kek-file"} {
			if p.has(f) {
				return nil, usagef("--%s is for local mode or cluster mode; it cannot be used with --server", f)
			}
		}
		return openRemote(p.get("server"), p.get("token-file"), p.get("ca-file"))
	}
	for _, f := range []string{"token-file", "ca-file"} {
		if p.has(f) {
			return nil, usagef("--%s needs --server (remote mode)", f)
		}
	}
	if p.has("postgres") || p.has("kek-file") {
		for _, f := range []string{"data", "config", "key-dir"} {
			if p.has(f) {
				return nil, usagef("--%s cannot be used with --postgres (cluster mode)", f)
			}
		}
		if !p.has("postgres") || !p.has("kek-file") || p.get("postgres") == "" || p.get("kek-file") == "" {
			return nil, usagef("cluster mode needs both --postgres URL and --kek-file FILE")
		}
		return openLocal(ctx, localOptions{postgres: p.get("postgres"), kekFile: p.get("kek-file")})
	}
	data := p.get("data")
	if data == "" {
		data = "./syncd-data"
	}
	return openLocal(ctx, localOptions{
		dataDir: data, dataSet: p.has("data"),
		keyDir: p.get("key-dir"), keyDirSet: p.has("key-dir"),
		configFile: p.get("config"),
	})
}

type runCtx struct {
	p              *parsed
	b              backend
	stdout, stderr io.Writer
}

type command struct {
	words []string // e.g. {"tenant", "create"}
	args  int      // positional arguments after the words; -1 = 0 or 1
	flags []string
	check func(p *parsed) error
	// validate checks the command's arguments before any backend is opened.
	validate func(p *parsed) error
	run      func(ctx context.Context, r *runCtx) error
	// direct, when set, runs instead of run without a backend (r.b is nil).
	direct func(ctx context.Context, r *runCtx) error
}

func (c *command) name() string { return strings.Join(c.words, " ") }

var commands []*command

func lookup(p *parsed) (*command, error) {
	for _, c := range commands {
		if len(p.words) < len(c.words) {
			continue
		}
		match := true
		for i, w := range c.words {
			if p.words[i] != w {
				match = false
			}
		}
		if !match {
			continue
		}
		n := len(p.words) - len(c.words)
		if c.args >= 0 && n != c.args || c.args < 0 && n > 1 {
			return nil, usagef("%s: wrong number of arguments", c.name())
		}
		return c, nil
	}
	return nil, usagef("unknown command %q", strings.Join(p.words, " "))
}

func init() {
	commands = []*command{
		{words: []string{"tenant", "create"}, args: 1, flags: []string{"quota", "max-file-size", "max-entries"}, validate: validateTenantCreate, run: tenantCreate},
		{words: []string{"tenant", "list"}, run: tenantList},
		{words: []string{"tenant", "delete"}, args: 1, flags: []string{"force"}, validate: validateTenantDelete, run: tenantDelete},
		{words: []string{"token", "issue"}, flags: []string{"tenant", "subject", "role", "ttl", "out", "ops", "link", "public-url", "device", "cert", "path"}, validate: validateTokenIssue, run: tokenIssue},
		{words: []string{"token", "list"}, flags: []string{"tenant", "ops", "subject", "all"}, validate: validateTokenList, run: tokenList},
		{words: []string{"token", "revoke"}, args: -1, flags: []string{"tenant", "subject", "ops"}, validate: validateTokenRevoke, run: tokenRevoke},
		{words: []string{"device", "list"}, flags: []string{"tenant"}, run: deviceList},
		{words: []string{"device", "revoke"}, args: 1, run: deviceRevoke},
		{words: []string{"key", "rotate"}, run: keyRotate},
		{words: []string{"key", "list"}, run: keyList},
		{words: []string{"key", "retire"}, args: 1, run: keyRetire},
		{words: []string{"audit"}, flags: []string{"limit"}, validate: validateAudit, run: auditList},
		{words: []string{"team", "tokens"}, validate: validateTeam, run: teamTokens},
		{words: []string{"team", "issue"}, flags: []string{"subject", "role", "ttl", "path", "device", "out"}, validate: validateTeamIssue, run: teamIssue},
		{words: []string{"team", "revoke"}, args: -1, flags: []string{"subject", "device"}, validate: validateTeamRevoke, run: teamRevoke},
		{words: []string{"team", "audit"}, flags: []string{"limit"}, validate: validateTeam, run: teamAudit},
		{words: []string{"cluster", "import"}, validate: validateClusterImport, direct: clusterImport},
		{words: []string{"cluster", "new-epoch"}, validate: validateClusterNewEpoch, direct: clusterNewEpoch},
	}
	for _, c := range commands {
		c := c
		c.check = func(p *parsed) error { return p.allow(c.name(), c.flags...) }
	}
}

// arg returns the i-th positional argument after the command words.
func (r *runCtx) arg(cmdWords, i int) string { return r.p.words[cmdWords+i] }

func (r *runCtx) json() bool { return r.p.has("json") }

func (r *runCtx) printJSON(v any) error {
	enc := json.NewEncoder(r.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func parseSizeFlag(p *parsed, name string) (int64, error) {
	if !p.has(name) {
		return 0, nil
	}
	n, err := config.ParseSize(p.get(name))
	if err != nil {
		return 0, usagef("--%s: %v", name, err)
	}
	return n, nil
}

// parseTTL accepts Go durations and whole days ("30d").
func parseTTL(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 || n > 100000 {
			return 0, usagef("--ttl: bad duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--ttl: bad duration %q (want e.g. 720h, 90m, 30d)", s)
	}
	return d, nil
}

// tenantCreateArgs returns the name and options of tenant create.
func tenantCreateArgs(p *parsed) (string, tenants.Options, error) {
	name := p.words[2]
	var o tenants.Options
	if !tenants.ValidName(name) {
		return "", o, usagef("tenant name %q must match ^[a-z0-9][a-z0-9-]{0,62}$", name)
	}
	var err error
	if o.Quota, err = parseSizeFlag(p, "quota"); err != nil {
		return "", o, err
	}
	if o.MaxFileSize, err = parseSizeFlag(p, "max-file-size"); err != nil {
		return "", o, err
	}
	if p.has("max-entries") {
		n, err := strconv.ParseInt(p.get("max-entries"), 10, 64)
		if err != nil || n < 0 {
			return "", o, usagef("--max-entries: want a non-negative number")
		}
		o.MaxEntries = n
	}
	return name, o, nil
}

func validateTenantCreate(p *parsed) error {
	_, _, err := tenantCreateArgs(p)
	return err
}

func tenantCreate(ctx context.Context, r *runCtx) error {
	name, o, err := tenantCreateArgs(r.p)
	if err != nil {
		return err
	}
	t, err := r.b.CreateTenant(ctx, name, o)
	if err != nil {
		return err
	}
	if r.json() {
		return r.printJSON(t)
	}
	fmt.Fprintf(r.stdout, "created tenant %s (id %s)\n", t.Name, t.ID)
	return nil
}

func tenantList(ctx context.Context, r *runCtx) error {
	ts, err := r.b.ListTenants(ctx)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []tenants.Tenant{}
	}
	if r.json() {
		return r.printJSON(ts)
	}
	tw := tabwriter.NewWriter(r.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tQUOTA\tMAX FILE SIZE\tMAX ENTRIES\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.ID, sizeOrDash(t.Quota), sizeOrDash(t.MaxFileSize), numOrDash(t.MaxEntries), t.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func sizeOrDash(n int64) string {
	if n == 0 {
		return "-"
	}
	return config.Size(n).String()
}

func numOrDash(n int64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

func validateTenantDelete(p *parsed) error {
	if !p.has("force") {
		return usagef("tenant delete removes %s and all its files: add --force", p.words[2])
	}
	return nil
}

func tenantDelete(ctx context.Context, r *runCtx) error {
	name := r.arg(2, 0)
	if err := r.b.DeleteTenant(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "deleted tenant %s\n", name)
	return nil
}

// dash shows "" as "-" and quotes a value holding control or non-printable
// characters, so that a name chosen by a caller cannot play tricks on a terminal.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '\t' {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}
