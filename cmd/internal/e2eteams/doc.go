// Package e2eteams holds the end-to-end tests of the team features (path-scoped
// tokens, tenant admins, share links) against a real syncd (syncdtest) and the real
// clients (testbin). It has no code of its own.
package e2eteams
