// Package servicetest hands tests the real services that .ci/services starts
// (PostgreSQL, Redis, an S3-compatible server, nginx), read from SYNCSPACE_TEST_*
// environment variables. A test asking for a service whose variable is unset is skipped
// with a message saying how to start the services, unless
// SYNCSPACE_TEST_SERVICES_REQUIRED=1 (CI), where the test fails instead: CI must never
// pass by skipping.
//
// It imports only the standard library, so any package's tests may use it. A fresh
// PostgreSQL database per test needs a driver and lives in tenants/pgschema/pgtest.
package servicetest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// Environment variables written by .ci/services.
const (
	EnvPostgres    = "SYNCSPACE_TEST_POSTGRES"
	EnvRedis       = "SYNCSPACE_TEST_REDIS"
	EnvS3Endpoint  = "SYNCSPACE_TEST_S3_ENDPOINT"
	EnvS3AccessKey = "SYNCSPACE_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey = "SYNCSPACE_TEST_S3_SECRET_KEY"
	EnvS3Bucket    = "SYNCSPACE_TEST_S3_BUCKET"
	EnvNginx       = "SYNCSPACE_TEST_NGINX"
	EnvRequired    = "SYNCSPACE_TEST_SERVICES_REQUIRED"
)

const howTo = `start them with: eval "$(.ci/services start)"`

// Required reports whether missing services fail tests instead of skipping them.
func Required() bool { return os.Getenv(EnvRequired) == "1" }

// Lookup returns the value of the environment variable name, or skips t (fails it when
// Required) naming the service and how to start it.
func Lookup(t testing.TB, name, service string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v != "" {
		return v
	}
	if Required() {
		t.Fatalf("%s is required (%s=1) but %s is unset: %s", service, EnvRequired, name, howTo)
	}
	t.Skipf("no %s for this test (%s unset): %s", service, name, howTo)
	return ""
}

// PostgresServer is the URL of the PostgreSQL server (its maintenance database).
// Tests that write should use a fresh database: tenants/pgschema/pgtest.Postgres.
func PostgresServer(t testing.TB) string {
	t.Helper()
	return Lookup(t, EnvPostgres, "PostgreSQL")
}

// Redis is the URL of the Redis server (redis://host:port/db). Tests share the server:
// use names (channels, keys) unique to the test, e.g. with Name.
func Redis(t testing.TB) string {
	t.Helper()
	return Lookup(t, EnvRedis, "Redis")
}

// S3Settings address an S3-compatible service and a bucket of the test's own.
type S3Settings struct {
	Endpoint  string // http://host:port
	AccessKey string
	SecretKey string
	// Bucket is a fresh name (a prefix from the environment plus random characters);
	// the bucket does not exist yet: the code under test or the test creates it.
	Bucket string
}

// S3 returns the S3-compatible service's settings with a fresh bucket name.
func S3(t testing.TB) S3Settings {
	t.Helper()
	s := S3Settings{
		Endpoint:  Lookup(t, EnvS3Endpoint, "S3-compatible server"),
		AccessKey: Lookup(t, EnvS3AccessKey, "S3 access key"),
		SecretKey: Lookup(t, EnvS3SecretKey, "S3 secret key"),
	}
	prefix := os.Getenv(EnvS3Bucket)
	if prefix == "" {
		prefix = "syncspace-test"
	}
	s.Bucket = prefix + "-" + Name(t)
	return s
}

// Nginx is the path of the nginx binary.
func Nginx(t testing.TB) string {
	t.Helper()
	p := Lookup(t, EnvNginx, "nginx")
	if _, err := os.Stat(p); err != nil {
		if Required() {
			t.Fatalf("nginx: %v", err)
		}
		t.Skipf("nginx: %v", err)
	}
	return p
}

// Name returns 12 random lowercase hex characters, for names (databases, buckets,
// channels) that must not collide between tests or runs sharing a server.
func Name(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}
