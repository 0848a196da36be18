package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Cluster configures cluster mode: several syncd nodes on one PostgreSQL database, a
// bus between them and a shared blob store. The zero value (no "cluster" key, or an
// empty object) is the single-node server; any field set turns cluster mode on, and
// then Postgres, Blobs and auth.kek_file are required.
type Cluster struct {
	// Postgres is the database URL (postgres://… or postgresql://…): the authority for
	// tenants, the index, change logs, heads, versions, tokens, keys and audit.
	Postgres string `json:"postgres"`
	// Bus is how nodes ring each other after a commit: "postgres" (LISTEN/NOTIFY on the
	// same database) or redis://… / rediss://…; "" means "postgres".
	Bus string `json:"bus"`
	// Blobs is where content lives: s3://BUCKET?endpoint=…&region=… (credentials from
	// the environment or a credentials_file query key) or dir:/PATH (a directory every
	// node mounts).
	Blobs string `json:"blobs"`
	// NodeID names this node in logs, metrics and /admin/connections; "" means host
	// name + "-" + pid.
	NodeID string `json:"node_id"`
	// BlobGCGrace is how long the blob garbage collector leaves content that nothing
	// refers to (and any blob an upload stored) before removing it; 0 means 1h.
	BlobGCGrace Duration `json:"blob_gc_grace"`
}

// Bus kinds.
const (
	BusPostgres = "postgres"
	BusRedis    = "redis"
)

// Blob store kinds.
const (
	BlobsS3  = "s3"
	BlobsDir = "dir"
)

// Enabled reports whether cluster mode is on.
func (c Cluster) Enabled() bool { return c != Cluster{} }

// BusKind is BusPostgres or BusRedis (Bus "" is BusPostgres).
func (c Cluster) BusKind() string {
	if strings.HasPrefix(c.Bus, "redis://") || strings.HasPrefix(c.Bus, "rediss://") {
		return BusRedis
	}
	return BusPostgres
}

// Node returns NodeID, or host name + "-" + pid when it is "".
func (c Cluster) Node() string {
	if c.NodeID != "" {
		return c.NodeID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// BlobStore is a parsed cluster.blobs value.
type BlobStore struct {
	Kind string // BlobsS3 or BlobsDir
	// S3: the bucket, the endpoint URL (https://…, or http:// on loopback), the region
	// ("" = the client's default) and a credentials file ("" = AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY from the environment).
	Bucket          string
	Endpoint        string
	Region          string
	CredentialsFile string
	// Dir: the absolute, cleaned root directory.
	Dir string
}

var (
	bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// ParseBlobStore parses a cluster.blobs value. Errors do not name the field.
func ParseBlobStore(s string) (BlobStore, error) {
	if rest, ok := strings.CutPrefix(s, "dir:"); ok {
		if !filepath.IsAbs(rest) || strings.ContainsRune(rest, 0) {
			return BlobStore{}, fmt.Errorf("dir: needs an absolute path, got %q", rest)
		}
		return BlobStore{Kind: BlobsDir, Dir: filepath.Clean(rest)}, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" {
		return BlobStore{}, fmt.Errorf("want s3://BUCKET?endpoint=…&region=… or dir:/PATH, got %q", s)
	}
	if u.User != nil {
		return BlobStore{}, fmt.Errorf("credentials do not belong in the config: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or credentials_file")
	}
	if !bucketRE.MatchString(u.Host) || strings.Contains(u.Host, "..") {
		return BlobStore{}, fmt.Errorf("bad bucket name %q", u.Host)
	}
	if u.Path != "" && u.Path != "/" {
		return BlobStore{}, fmt.Errorf("no path after the bucket, got %q", u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return BlobStore{}, fmt.Errorf("bad query: %v", err)
	}
	b := BlobStore{Kind: BlobsS3, Bucket: u.Host}
	for k, v := range q {
		if len(v) != 1 {
			return BlobStore{}, fmt.Errorf("query key %q given %d times", k, len(v))
		}
		switch k {
		case "endpoint":
			b.Endpoint = v[0]
		case "region":
			b.Region = v[0]
		case "credentials_file":
			b.CredentialsFile = v[0]
		default:
			return BlobStore{}, fmt.Errorf("unknown query key %q (endpoint, region, credentials_file)", k)
		}
	}
	if b.Endpoint == "" {
		return BlobStore{}, fmt.Errorf("endpoint is required (s3://%s?endpoint=https://…)", b.Bucket)
	}
	e, err := url.Parse(b.Endpoint)
	if err != nil || e.Host == "" || e.User != nil || (e.Path != "" && e.Path != "/") || e.RawQuery != "" ||
		!(e.Scheme == "https" || e.Scheme == "http" && IsLoopback(e.Host)) {
		return BlobStore{}, fmt.Errorf("endpoint must be https://HOST[:PORT] (http only on loopback), got %q", b.Endpoint)
	}
	if b.CredentialsFile != "" && !filepath.IsAbs(b.CredentialsFile) {
		return BlobStore{}, fmt.Errorf("credentials_file must be an absolute path, got %q", b.CredentialsFile)
	}
	return b, nil
}

// validateCluster checks the cluster section (nothing when cluster mode is off).
func (c *Config) validateCluster() error {
	cl := c.Cluster
	if !cl.Enabled() {
		return nil
	}
	if cl.Postgres == "" {
		return fieldErr("cluster.postgres", "is required in cluster mode")
	}
	if u, err := url.Parse(cl.Postgres); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fieldErr("cluster.postgres", "want a postgres://… URL")
	}
	switch {
	case cl.Bus == "" || cl.Bus == BusPostgres:
	case cl.BusKind() == BusRedis:
		if u, err := url.Parse(cl.Bus); err != nil || u.Host == "" {
			return fieldErr("cluster.bus", "want redis://HOST:PORT/DB")
		}
	default:
		return fieldErr("cluster.bus", "want \"postgres\" or a redis:// URL, got %q", cl.Bus)
	}
	if cl.Blobs == "" {
		return fieldErr("cluster.blobs", "is required in cluster mode")
	}
	if _, err := ParseBlobStore(cl.Blobs); err != nil {
		return fieldErr("cluster.blobs", "%v", err)
	}
	if cl.NodeID != "" && !nodeIDRE.MatchString(cl.NodeID) {
		return fieldErr("cluster.node_id", "want 1-64 letters, digits, '.', '_' or '-', got %q", cl.NodeID)
	}
	if g := time.Duration(cl.BlobGCGrace); g < 0 || g > 0 && g < time.Second {
		return fieldErr("cluster.blob_gc_grace", "want at least 1s (0: the default, 1h)")
	}
	if c.Auth.KEKFile == "" {
		return fieldErr("auth.kek_file", "is required in cluster mode (32 random bytes, standard base64, one line, mode 0600)")
	}
	if strings.ContainsRune(c.Auth.KEKFile, 0) {
		return fieldErr("auth.kek_file", "must not contain NUL")
	}
	return nil
}
