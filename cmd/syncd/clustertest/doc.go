// Package clustertest holds fault tests of a syncd cluster: three syncd processes on
// one PostgreSQL database, a Redis bus and a shared blob directory, behind a real
// nginx on loopback. The package has no non-test code; its tests skip under -short
// and when the services are absent (see config/servicetest).
package clustertest
