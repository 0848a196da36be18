// Package tenants is syncspace's tenant registry and each tenant's Space: the rules
// over the content (Blobs, blobs.go), the index of paths, the per-tenant change log,
// earlier versions, quota and limits, start-up recovery and the server-side watcher.
// The package makes no file syscall: content goes through Blobs (tenants/rootblobs on
// the local disk, tenants/casblobs over an object store), the watcher's and recovery's
// disk reads through LocalDisk.
//
// Layout on one node (SPEC §6, tenants/rootblobs): DATA/tenants/NAME/files holds the
// tenant's files as plain files, DATA/tenants/NAME/versions earlier contents (named by
// version id), DATA/tenants/NAME/tmp uploads in progress. Metadata lives behind the Index (index.go; tenants/sqlite is
// the SQLite implementation: tables tenants, tenant_entries, tenant_changes,
// tenant_versions and tenant_entry_undo).
//
// Writes follow one path: the content is streamed into tmp/ while its SHA-256 is
// computed, fsynced, checked, then, inside the tenant's commit section, the old content
// is linked into versions/, the new file renamed into place, the directories fsynced,
// and the index row, version row and change-log row are committed in one index
// write transaction (index.Tx). Each commit is then published as one Notice on the registry's Bus
// (bus.go; tenants/localbus in process), still inside the commit section, so
// subscribers see every tenant's events in seq order.
//
// Every error returned is a *protocol.Error with a SPEC code; failures the caller
// cannot act on are CodeInternal with the cause attached for logs only.
package tenants
