package config

import (
	"strings"
	"testing"
)

// TestEnvErrorsNameTheVariable: a value refused that came from SYNCD_LISTEN,
// SYNCD_DATA_DIR or SYNCD_LOG_LEVEL names the variable as well as the key (the user
// wrote no such key anywhere), and plain HTTP refused on the embedded default says
// that the tls settings need a config file, which the user does not have yet.
func TestEnvErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name, path string // path "" = the embedded default
		env        map[string]string
		field      string
		want       []string
	}{
		{"listen", "", map[string]string{EnvListen: "8080"}, "listen", []string{EnvListen}},
		{"log level", "", map[string]string{EnvLogLevel: "loud"}, "log.level", []string{EnvLogLevel}},
		{"data dir", "", map[string]string{EnvDataDir: "a\x00b"}, "data_dir", []string{EnvDataDir}},
		{"plain on all interfaces, embedded", "", map[string]string{EnvListen: "0.0.0.0:8080"}, "tls.mode", []string{EnvListen, "-config"}},
		{"over a file", `{"log":{"level":"info"}}`, map[string]string{EnvLogLevel: "loud"}, "log.level", []string{EnvLogLevel}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.path == "" {
				_, err = Load("", env(tt.env))
			} else {
				_, err = Parse([]byte(tt.path), env(tt.env))
			}
			wantField(t, err, tt.field)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
	// A file's own value is not blamed on the environment.
	_, err := Parse([]byte(`{"log":{"level":"loud"}}`), env(map[string]string{EnvListen: "127.0.0.1:1"}))
	wantField(t, err, "log.level")
	if strings.Contains(err.Error(), "SYNCD_") {
		t.Errorf("error %q blames the environment", err)
	}
}

// TestByteOrderMark: a config file saved with a UTF-8 byte order mark (Windows editors,
// PowerShell's Set-Content -Encoding UTF8) loads like the same file without it (RFC 8259
// lets a parser ignore it); it was "invalid JSON: invalid character 'ï'".
func TestByteOrderMark(t *testing.T) {
	c, err := Parse([]byte("\xef\xbb\xbf{\"listen\":\"127.0.0.1:9\"}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9" {
		t.Fatalf("listen %q", c.Listen)
	}
}
