//go:build !windows

package ctl

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/syncspace/syncspace/cmd/syncd/daemon"
)

// TestLocalModeOpensTheDataDirLikeSyncd: syncctl's local mode opens the data dir with
// the very token settings syncd uses (issuer, TTL caps, key dir and the clock-skew
// leeway, which once was 30 s in syncd and 15 s here), with and without --config.
func TestLocalModeOpensTheDataDirLikeSyncd(t *testing.T) {
	dir := t.TempDir()
	data, keys := filepath.Join(dir, "data"), filepath.Join(dir, "keys")
	cfg := filepath.Join(dir, "syncd.json")
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": data, "log": map[string]any{"level": "error"},
		"auth": map[string]any{"issuer": "my-issuer", "max_ttl": "48h", "max_ops_ttl": "1h", "key_dir": keys}})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := daemon.Start(ctx, []string{"-config", cfg}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(ctx)
	want := d.AuthConfig()
	if want.Leeway <= 0 || want.Issuer != "my-issuer" || want.KeyDir != keys {
		t.Fatalf("syncd's auth config %+v", want)
	}
	for name, o := range map[string]localOptions{
		"data only":   {dataDir: data, dataSet: true},
		"with config": {configFile: cfg},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := openLocal(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if got := l.node.AuthConfig(); !reflect.DeepEqual(got, want) {
				t.Fatalf("syncctl opens auth with %+v, syncd with %+v", got, want)
			}
		})
	}
}
