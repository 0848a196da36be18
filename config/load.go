package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// MaxFileBytes bounds the size of a config file Load reads.
const MaxFileBytes = 1 << 20

// Environment variables that override the embedded default and a config file alike.
const (
	EnvListen   = "SYNCD_LISTEN"
	EnvDataDir  = "SYNCD_DATA_DIR"
	EnvLogLevel = "SYNCD_LOG_LEVEL"
)

// Default returns the embedded default configuration of SPEC §1 and §5: plain HTTP on
// 127.0.0.1:8080, data dir ./syncd-data, and every SPEC default. Embedded is true; a
// config file loaded by Load starts from this value with Embedded false.
func Default() *Config {
	return &Config{
		Listen:         "127.0.0.1:8080",
		AdminListen:    "",
		DataDir:        "./syncd-data",
		TrustedProxies: []string{},
		Log:            Log{Level: "info", Format: "text"},
		TLS: TLS{
			Mode:       TLSOff,
			Domains:    []string{},
			HTTPListen: ":80",
			HSTS:       HSTS{MaxAge: Duration(8760 * time.Hour)},
		},
		Auth: Auth{
			Issuer:    "syncd",
			MaxTTL:    Duration(8760 * time.Hour),
			MaxOpsTTL: Duration(24 * time.Hour),
			DeviceTTL: Duration(90 * 24 * time.Hour),
			AccessTTL: Duration(15 * time.Minute),
		},
		Limits: Limits{
			MaxFileSize: 4 << 30,
			MaxEntries:  1000000,
			MinFreeDisk: 1 << 30,
			WSMaxFrame:  65536,
			WSSendQueue: 256,
			WSPerToken:  16,

			MaxConnections:      10000,
			MaxConnectionsPerIP: 256,
			BodyMinRate:         1 << 10,
			BodyWindow:          Duration(60 * time.Second),
			StreamStall:         Duration(60 * time.Second),
		},
		WebSocket: WebSocket{
			PingInterval:   Duration(30 * time.Second),
			PongTimeout:    Duration(60 * time.Second),
			IdleTimeout:    Duration(5 * time.Minute),
			AllowedOrigins: []string{},
		},
		Retention: Retention{Changes: 100000, Versions: Duration(720 * time.Hour)},
		Web:       Web{Enabled: true},
		Embedded:  true,
	}
}

// Load returns the configuration syncd runs with. path "" means the embedded default
// (Embedded true); otherwise the JSON file at path is read on top of the defaults (see
// Parse). getenv supplies SYNCD_LISTEN, SYNCD_DATA_DIR and SYNCD_LOG_LEVEL, which
// override the file when non-empty; nil means no environment. The result has passed
// Validate. An error about the document is an *Error whose text names the field at
// fault; a file that cannot be read gives an error wrapping the os error.
func Load(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		c := Default()
		if err := c.applyEnv(getenv); err != nil {
			return nil, err
		}
		if err := c.Validate(); err != nil {
			return nil, c.explain(err)
		}
		return c, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config file %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read config file %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fieldErr("", "config file is larger than %d bytes", MaxFileBytes)
	}
	return Parse(data, getenv)
}

// Parse reads a JSON config document on top of Default() (Embedded false), applies the
// environment overrides (getenv may be nil) and validates the result. Keys must match
// exactly (case-sensitive); an unknown or repeated key, a value of the wrong type,
// trailing data after the object or a root that is not an object is an error naming the
// key by its full dotted path (e.g. "limits.max_fil_size"). The seed's route form
// (SPEC §5) is accepted: "root" sets data_dir, "enable_upload": false sets ReadOnly.
// "tls.mode" written out sets TLSModeExplicit. A leading UTF-8 byte order mark is
// ignored. A default bounded by another key that the file writes alone follows it
// (see fitDependentDefaults).
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	c := Default()
	c.Embedded = false
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark (RFC 8259 §8.1)
	var doc fileDoc
	doc.Config = c // decode on top of the defaults
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var root json.RawMessage
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fieldErr("", "config is empty (want a JSON object)")
		}
		return nil, fieldErr("", "invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fieldErr("", "unexpected data after the top-level JSON object")
	}
	d := decoder{seen: map[string]bool{}}
	if err := d.decodeStruct("", root, reflect.ValueOf(&doc).Elem()); err != nil {
		return nil, err
	}
	c.TLSModeExplicit = d.seen["tls.mode"] && c.TLS.Mode != ""
	c.fitDependentDefaults(d.seen)
	if err := c.applySeedRoutes(doc.Routes, d.seen["data_dir"]); err != nil {
		return nil, err
	}
	if err := c.applyEnv(getenv); err != nil {
		return nil, err
	}
	if c.TLS.Mode == "" {
		c.TLS.Mode = TLSOff
	}
	if err := c.Validate(); err != nil {
		return nil, c.explain(err)
	}
	return c, nil
}

// fitDependentDefaults adjusts a default that another key bounds when the file wrote
// that other key but not the default's own: max_connections_per_ip (256) becomes
// max_connections when that is lower, and pong_timeout (60s) twice ping_interval when
// that is not shorter. A file that writes both keys is validated as written.
func (c *Config) fitDependentDefaults(seen map[string]bool) {
	l := &c.Limits
	if !seen["limits.max_connections_per_ip"] && l.MaxConnections > 0 && l.MaxConnectionsPerIP > l.MaxConnections {
		l.MaxConnectionsPerIP = l.MaxConnections
	}
	ws := &c.WebSocket
	if !seen["websocket.pong_timeout"] && ws.PingInterval > 0 && ws.PongTimeout <= ws.PingInterval && ws.PingInterval <= math.MaxInt64/2 {
		ws.PongTimeout = 2 * ws.PingInterval
	}
}

// fileDoc is the shape of a config file: Config's keys plus the seed's "routes".
type fileDoc struct {
	*Config
	Routes []seedRoute `json:"routes"`
}

// seedRoute is one entry of the seed's Caddy-like "routes" array.
type seedRoute struct {
	Match  []seedMatch  `json:"match"`
	Handle []seedHandle `json:"handle"`
}

type seedMatch struct {
	Matcher string   `json:"matcher"`
	Paths   []string `json:"paths"`
}

type seedHandle struct {
	Handler      string `json:"handler"`
	Root         string `json:"root"`
	EnableUpload *bool  `json:"enable_upload"`
}

// applySeedRoutes maps the seed's route form onto c.
func (c *Config) applySeedRoutes(routes []seedRoute, dataDirSet bool) error {
	root, rootField := "", ""
	for i, r := range routes {
		p := fmt.Sprintf("routes[%d]", i)
		for j, m := range r.Match {
			mp := fmt.Sprintf("%s.match[%d]", p, j)
			if m.Matcher != "path" {
				return fieldErr(mp+".matcher", "unsupported matcher %q (only \"path\")", m.Matcher)
			}
			for k, path := range m.Paths {
				if !strings.HasPrefix(path, "/") {
					return fieldErr(fmt.Sprintf("%s.paths[%d]", mp, k), "must start with /")
				}
			}
		}
		if len(r.Handle) == 0 {
			return fieldErr(p+".handle", "must name a handler")
		}
		for j, h := range r.Handle {
			hp := fmt.Sprintf("%s.handle[%d]", p, j)
			if h.Handler != "file_sync" {
				return fieldErr(hp+".handler", "unsupported handler %q (only \"file_sync\")", h.Handler)
			}
			if h.Root != "" {
				if root != "" && filepath.Clean(root) != filepath.Clean(h.Root) {
					return fieldErr(hp+".root", "conflicts with %s (%q)", rootField, root)
				}
				root, rootField = h.Root, hp+".root"
			}
			if h.EnableUpload != nil && !*h.EnableUpload {
				c.ReadOnly = true
			}
		}
	}
	if root != "" {
		if dataDirSet && filepath.Clean(root) != filepath.Clean(c.DataDir) {
			return fieldErr(rootField, "conflicts with data_dir (%q)", c.DataDir)
		}
		c.DataDir = root
	}
	return nil
}

// applyEnv applies the SYNCD_* overrides.
func (c *Config) applyEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	for _, e := range []struct {
		name, field string
		dst         *string
	}{{EnvListen, "listen", &c.Listen}, {EnvDataDir, "data_dir", &c.DataDir}, {EnvLogLevel, "log.level", &c.Log.Level}} {
		if v := getenv(e.name); v != "" {
			*e.dst = v
			if c.fromEnv == nil {
				c.fromEnv = map[string]string{}
			}
			c.fromEnv[e.field] = e.name
		}
	}
	return nil
}

// explain adds to a validation error what the user needs to find its cause: the
// environment variable that set the field (the user wrote no such key), and, for plain
// HTTP refused on the embedded default, that the tls settings need a config file.
func (c *Config) explain(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	field := e.Field
	if field == "tls.mode" && c.TLS.Mode == TLSOff && !IsLoopback(c.Listen) {
		field = "listen" // the address is what made plain HTTP refused
	}
	if name, ok := c.fromEnv[field]; ok {
		e.Msg += fmt.Sprintf(" (%s set by %s)", field, name)
	}
	if e.Field == "tls.mode" && c.Embedded {
		e.Msg += "; syncd runs on the embedded default without -config: write the tls settings in a config file and start syncd -config FILE"
	}
	return err
}

// decoder walks a JSON document against a struct type, so that every key is checked
// against the type (exactly, case-sensitive), repeated keys are refused, and every
// error carries the full dotted path of the value at fault.
type decoder struct {
	seen map[string]bool // dotted paths of object keys present in the document
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decodeStruct decodes the JSON object raw into the struct v.
func (d *decoder) decodeStruct(path string, raw json.RawMessage, v reflect.Value) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return fieldErr(path, "want a JSON object, got %s", kindOf(raw))
	}
	fields := map[string]reflect.Value{}
	collectFields(v, fields)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return fieldErr(path, "invalid JSON: %v", err)
	}
	keys := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fieldErr(path, "invalid JSON: %v", err)
		}
		key, _ := tok.(string)
		kp := join(path, key)
		if keys[key] {
			return fieldErr(kp, "key appears more than once")
		}
		keys[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return fieldErr(kp, "invalid JSON: %v", err)
		}
		f, ok := fields[key]
		if !ok {
			return fieldErr(kp, "unknown key")
		}
		d.seen[kp] = true
		if err := d.decodeValue(kp, val, f); err != nil {
			return err
		}
	}
	return nil
}

// decodeValue decodes raw into v, recursing into structs and slices of structs.
func (d *decoder) decodeValue(path string, raw json.RawMessage, v reflect.Value) error {
	raw = bytes.TrimSpace(raw)
	t := v.Type()
	if string(raw) == "null" {
		if t.Kind() == reflect.Slice {
			v.Set(reflect.Zero(t))
			return nil
		}
		return fieldErr(path, "must not be null")
	}
	switch {
	case t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType):
		return d.decodeStruct(path, raw, v)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if raw[0] != '[' {
			return fieldErr(path, "want a JSON array, got %s", kindOf(raw))
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fieldErr(path, "invalid JSON: %v", err)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			if err := d.decodeValue(fmt.Sprintf("%s[%d]", path, i), it, s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool,
		t.Kind() == reflect.Bool:
		if string(raw) != "true" && string(raw) != "false" {
			return fieldErr(path, "want true or false, got %s", kindOf(raw))
		}
	case t.Kind() == reflect.String:
		if raw[0] != '"' {
			return fieldErr(path, "want a string, got %s", kindOf(raw))
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		if raw[0] != '[' {
			return fieldErr(path, "want an array of strings, got %s", kindOf(raw))
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fieldErr(path, "invalid JSON: %v", err)
		}
		for i, it := range items {
			if len(it) == 0 || it[0] != '"' {
				return fieldErr(fmt.Sprintf("%s[%d]", path, i), "want a string, got %s", kindOf(it))
			}
		}
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		if !reflect.PointerTo(t).Implements(unmarshalerType) {
			if raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
				return fieldErr(path, "want an integer, got %s", kindOf(raw))
			}
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return fieldErr(path, "want an integer that fits in 64 bits, got %s", raw)
			}
			if t.Kind() == reflect.Int && int64(int(n)) != n {
				return fieldErr(path, "integer out of range")
			}
			v.SetInt(n)
			return nil
		}
	}
	// Fresh value so that a slice or pointer is replaced, not merged.
	nv := reflect.New(t)
	if err := json.Unmarshal(raw, nv.Interface()); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return fieldErr(path, "wrong type: got JSON %s", ute.Value)
		}
		return fieldErr(path, "%v", err)
	}
	v.Set(nv.Elem())
	return nil
}

// collectFields maps the JSON names of v's fields (following embedded pointers to
// structs, as encoding/json does) to the settable field values.
func collectFields(v reflect.Value, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		fv := v.Field(i)
		if sf.Anonymous {
			if fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Struct {
				if fv.IsNil() {
					fv.Set(reflect.New(fv.Type().Elem()))
				}
				collectFields(fv.Elem(), out)
				continue
			}
			if fv.Kind() == reflect.Struct {
				collectFields(fv, out)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out[name] = fv
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// kindOf names the JSON kind of raw for error messages.
func kindOf(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// Error is a configuration error: Field names the key at fault in dotted form
// ("tls.mode", "trusted_proxies[2]"; "" for the document as a whole) and Msg says what
// is wrong. Its text reads "config: tls.mode: must be ...".
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "config: " + e.Msg
	}
	return "config: " + e.Field + ": " + e.Msg
}

// fieldErr returns an *Error naming field.
func fieldErr(field, format string, args ...any) *Error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}
