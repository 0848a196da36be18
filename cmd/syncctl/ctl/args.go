package ctl

import (
	"fmt"
	"strings"
)

// flagSpec describes one flag: whether it takes a value.
type flagSpec struct {
	value  bool
	repeat bool // may be given several times (parsed.list)
}

// knownFlags lists every flag syncctl accepts; which command allows which is checked
// after parsing.
var knownFlags = map[string]flagSpec{
	"data":          {value: true},
	"config":        {value: true},
	"key-dir":       {value: true},
	"postgres":      {value: true},
	"kek-file":      {value: true},
	"server":        {value: true},
	"token-file":    {value: true},
	"ca-file":       {value: true},
	"json":          {},
	"help":          {},
	"h":             {},
	"quota":         {value: true},
	"max-file-size": {value: true},
	"max-entries":   {value: true},
	"force":         {},
	"tenant":        {value: true},
	"subject":       {value: true},
	"role":          {value: true},
	"ttl":           {value: true},
	"out":           {value: true},
	"ops":           {},
	"all":           {},
	"limit":         {value: true},
	"link":          {},
	"public-url":    {value: true},
	"path":          {value: true, repeat: true},
}

// globalFlags are allowed with every command.
var globalFlags = []string{"data", "config", "key-dir", "postgres", "kek-file", "server", "token-file", "ca-file", "json", "help", "h"}

// parsed is the command line split into positional words and flags. Flags may stand
// before, between or after the words; "--" ends flags.
type parsed struct {
	words []string
	flags map[string]string   // bool flags hold "true"; a repeated flag its last value
	lists map[string][]string // every value of a repeatable flag, in order
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func parseArgs(args []string) (*parsed, error) {
	p := &parsed{flags: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			p.words = append(p.words, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			p.words = append(p.words, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "---") || name == "" {
			return nil, usagef("bad flag %q", a)
		}
		val, hasVal := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, val, hasVal = k, v, true
		}
		spec, ok := knownFlags[name]
		if !ok {
			return nil, usagef("unknown flag -%s (an argument that starts with '-' goes after --)", name)
		}
		if _, dup := p.flags[name]; dup && !spec.repeat {
			return nil, usagef("flag -%s given twice", name)
		}
		switch {
		case spec.value && !hasVal:
			if i+1 >= len(args) {
				return nil, usagef("flag -%s needs a value", name)
			}
			i++
			val = args[i]
		case !spec.value && hasVal:
			if val != "true" && val != "false" {
				return nil, usagef("flag -%s takes no value", name)
			}
			if val == "false" {
				continue
			}
		case !spec.value:
			val = "true"
		}
		p.flags[name] = val
		if spec.repeat {
			if p.lists == nil {
				p.lists = map[string][]string{}
			}
			p.lists[name] = append(p.lists[name], val)
		}
	}
	return p, nil
}

// list returns every value of a repeatable flag.
func (p *parsed) list(name string) []string { return p.lists[name] }

func (p *parsed) has(name string) bool   { _, ok := p.flags[name]; return ok }
func (p *parsed) get(name string) string { return p.flags[name] }

// allow fails with a usage error if a flag outside globalFlags and extra was given.
func (p *parsed) allow(cmd string, extra ...string) error {
	ok := map[string]bool{}
	for _, f := range globalFlags {
		ok[f] = true
	}
	for _, f := range extra {
		ok[f] = true
	}
	for name := range p.flags {
		if !ok[name] {
			return usagef("%s does not take -%s", cmd, name)
		}
	}
	return nil
}
