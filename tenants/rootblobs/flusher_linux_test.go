package rootblobs

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/tenants/blob"
)

// TestTenantOnAnotherFileSystem: a tenant whose directories are all on the file
// system of DATA/tenants shares the store's Flusher; one with a directory on another
// file system (simulated: tests cannot mount), or whose device is unknown, gets none
// (its own fsyncs), and its uploads still work.
func TestTenantOnAnotherFileSystem(t *testing.T) {
	st, same := openT(t)
	if st.flush == nil {
		t.Skip("no Flusher here (no syncfs, or a kernel before Linux 5.8)")
	}
	if same.flush != st.flush {
		t.Fatal("a tenant on the store's file system has no Flusher")
	}
	old := deviceOf
	t.Cleanup(func() { deviceOf = old })
	for _, tc := range []struct{ name, sub string }{{"mounted", ""}, {"tmp", "tmp"}, {"files", "files"}, {"versions", "versions"}, {"unknown", ""}} {
		deviceOf = func(p string) (uint64, error) {
			d, err := fsys.Device(p)
			if p != filepath.Join(st.tenantDir(tc.name), tc.sub) {
				return d, err
			}
			if tc.name == "unknown" {
				return 0, errors.New("no stat")
			}
			return d + 1, err
		}
		c, err := st.Open(blob.Tenant{Name: tc.name, ID: tc.name})
		must(t, err)
		tn := c.(*Tenant)
		t.Cleanup(func() { tn.Close() })
		if tn.flush != nil {
			t.Errorf("%s: a tenant with a directory on another file system shares the Flusher", tc.name)
		}
		upload(t, tn, "u", "a.txt", "data", "")
	}
}
