package pebbletest

import "testing"

// Intermediate returns a CA signed by ca, valid for a day, as the intermediates of
// public CAs are: a server certificate it issues verifies against ca.Pool only when
// the server sends the intermediate (PEM) along. Its Pool holds ca's root, not itself.
func (ca *CA) Intermediate(t testing.TB) *CA {
	t.Helper()
	in := newCA(t, "syncspace test intermediate", ca)
	in.Pool = ca.Pool
	return in
}
