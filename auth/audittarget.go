package auth

import "context"

// TokenTarget is the audit target of an action on the token of record r (its
// revocation): "<tenant>/<subject> jti=<jti>" for a tenant token, OpsTarget+
// "/<subject> jti=<jti>" for an ops token. It puts an ops revocation of a tenant's
// token under that tenant, where its admins read it (GET /api/team/audit); a jti
// not recorded is its own target.
func TokenTarget(r TokenRecord) string {
	if r.Kind == KindTenant {
		return r.Tenant + "/" + r.Subject + " jti=" + r.JTI
	}
	return OpsTarget + "/" + r.Subject + " jti=" + r.JTI
}

// DeviceTarget is the audit target of an action on device id (its revocation):
// "<tenant>/<subject>/<device name> id=<id>" for a recorded device (as its enrolment
// is audited), else id alone.
func (dv *Devices) DeviceTarget(ctx context.Context, id string) string {
	d, err := dv.s.store.Device(ctx, id)
	if err != nil {
		return id
	}
	return d.Tenant + "/" + d.Subject + "/" + d.Name + " id=" + id
}
