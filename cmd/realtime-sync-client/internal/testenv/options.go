package testenv

import "github.com/syncspace/syncspace/tenants"

// tenantOptions are the limits of the test tenant (server defaults).
func tenantOptions() tenants.Options { return tenants.Options{} }
