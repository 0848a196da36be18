package config

import (
	"strings"
	"testing"
)

func TestClusterOffByDefault(t *testing.T) {
	c, err := Parse([]byte(`{"data_dir": "/srv/syncd"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Enabled() {
		t.Error("cluster mode on without a cluster key")
	}
	if d := Default(); d.Cluster.Enabled() {
		t.Error("cluster mode on in the embedded default")
	}
}

func TestClusterValid(t *testing.T) {
	c, err := Parse([]byte(`{
		"auth": {"kek_file": "/etc/syncd/kek"},
		"cluster": {
			"postgres": "postgres://syncd@db.internal:5432/syncspace?sslmode=verify-full",
			"bus": "redis://cache.internal:6379/0",
			"blobs": "s3://syncspace-blobs?endpoint=https://s3.internal&region=us-east-1",
			"node_id": "node-a"
		}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Cluster.Enabled() || c.Cluster.BusKind() != BusRedis || c.Cluster.Node() != "node-a" {
		t.Errorf("got %+v", c.Cluster)
	}
	b, err := ParseBlobStore(c.Cluster.Blobs)
	if err != nil || b != (BlobStore{Kind: BlobsS3, Bucket: "syncspace-blobs", Endpoint: "https://s3.internal", Region: "us-east-1"}) {
		t.Errorf("blobs %+v, %v", b, err)
	}
	c.Cluster.Bus, c.Cluster.NodeID = "", ""
	if c.Cluster.BusKind() != BusPostgres || !strings.Contains(c.Cluster.Node(), "-") {
		t.Errorf("defaults: bus %s, node %q", c.Cluster.BusKind(), c.Cluster.Node())
	}
	if err := c.Validate(); err != nil {
		t.Errorf("default bus: %v", err)
	}
	d, err := ParseBlobStore("dir:/mnt/shared/../blobs/")
	if err != nil || d != (BlobStore{Kind: BlobsDir, Dir: "/mnt/blobs"}) {
		t.Errorf("dir: %+v, %v", d, err)
	}
	l, err := ParseBlobStore("s3://b12?endpoint=http://127.0.0.1:9000&credentials_file=/etc/s3.cred")
	if err != nil || l.CredentialsFile != "/etc/s3.cred" || l.Endpoint != "http://127.0.0.1:9000" {
		t.Errorf("loopback http endpoint: %+v, %v", l, err)
	}
}

func TestClusterErrorsNameTheField(t *testing.T) {
	const pg = `"postgres": "postgres://db/x"`
	const blobs = `"blobs": "dir:/mnt/blobs"`
	const kek = `"auth": {"kek_file": "/etc/kek"}, `
	for _, tc := range []struct{ doc, field string }{
		{kek + `"cluster": {` + blobs + `}`, "cluster.postgres"},
		{kek + `"cluster": {"postgres": "mysql://db/x", ` + blobs + `}`, "cluster.postgres"},
		{kek + `"cluster": {` + pg + `}`, "cluster.blobs"},
		{kek + `"cluster": {"bus": "postgres"}`, "cluster.postgres"},
		{kek + `"cluster": {` + pg + `, "bus": "nats://x", ` + blobs + `}`, "cluster.bus"},
		{kek + `"cluster": {` + pg + `, "bus": "redis://", ` + blobs + `}`, "cluster.bus"},
		{kek + `"cluster": {` + pg + `, "blobs": "dir:relative"}`, "cluster.blobs"},
		{kek + `"cluster": {` + pg + `, "blobs": "s3://Bad_Bucket?endpoint=https://s3"}`, "cluster.blobs"},
		{kek + `"cluster": {` + pg + `, "blobs": "s3://bucket"}`, "cluster.blobs"},
		{kek + `"cluster": {` + pg + `, "blobs": "s3://bucket?endpoint=http://s3.example.com"}`, "cluster.blobs"},
		{kek + `"cluster": {` + pg + `, "blobs": "s3://key:secret@bucket?endpoint=https://s3"}`, "cluster.blobs"},
		{kek + `"cluster": {` + pg + `, "blobs": "s3://bucket?endpoint=https://s3&secret=x"}`, "cluster.blobs"},
		{kek + `"cluster": {` + pg + `, ` + blobs + `, "node_id": "a b"}`, "cluster.node_id"},
		{`"cluster": {` + pg + `, ` + blobs + `}`, "auth.kek_file"},
		{kek + `"cluster": {` + pg + `, "nodes": 3}`, "cluster.nodes"},
	} {
		_, err := Parse([]byte("{"+tc.doc+"}"), nil)
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s\n  got %v, want an error naming %s", tc.doc, err, tc.field)
		}
	}
}
