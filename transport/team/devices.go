package team

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/publicurl"
)

// Device credentials of the tenant (its devices: listed, enrolled by POST
// /api/team/tokens with "device", revoked by POST /api/team/revocations with
// "device"). A device's access tokens are renewed for as long as it is used, so a
// tenant admin enrolls devices of role read or write only, and a path-scoped admin
// none (device tokens are not path-scoped).

// DeviceCredential is the answer of POST /api/team/tokens with "device": the same
// JSON file `syncctl token issue --device --out FILE` writes, for the client's
// --credential-file.
type DeviceCredential struct {
	RefreshToken string `json:"refresh_token"`
	Server       string `json:"server"`
	Tenant       string `json:"tenant"`
	Subject      string `json:"subject"`
	Device       string `json:"device"`
	DeviceID     string `json:"device_id"`
	Role         string `json:"role"`
}

func (h *handlers) enrollDevice(c echo.Context, p *auth.Principal, req IssueRequest) error {
	target := clip(req.Subject + " device=" + req.Device + " role=" + req.Role)
	var err error
	switch {
	case req.Subject == "" || req.Role == "":
		err = protocol.Errorf(protocol.CodeBadRequest, "fields subject and role are required")
	case req.Role != auth.RoleRead && req.Role != auth.RoleWrite:
		err = protocol.Errorf(protocol.CodeForbidden, "a tenant admin enrolls devices of role read or write")
	case len(req.Paths) > 0 || p.Scope != nil:
		err = protocol.Errorf(protocol.CodeForbidden, "device credentials cover the whole tenant: a path-scoped admin cannot enroll them")
	case len(req.TTL) > 0:
		err = protocol.Errorf(protocol.CodeBadRequest, "a device's lifetime is auth.device_ttl: no ttl")
	}
	if err != nil {
		return h.done(c, "device.enroll", target, err, 0, nil)
	}
	secret, d, err := h.o.Auth.Devices().Enroll(c.Request().Context(), p.Tenant, req.Subject, req.Role, req.Device, "")
	if err == nil {
		target += " id=" + d.ID
	}
	cred := DeviceCredential{RefreshToken: secret, Server: h.serverURL(c), Tenant: d.Tenant, Subject: d.Subject, Device: d.Name, DeviceID: d.ID, Role: d.Role}
	return h.done(c, "device.enroll", clip(target), err, http.StatusCreated, cred)
}

// serverURL is PUBLIC_URL (transport/publicurl: never the request's Host).
func (h *handlers) serverURL(c echo.Context) string {
	return publicurl.Of(c.Request(), h.o.PublicURL)
}

// tenantDevices lists the devices of p's tenant (this incarnation).
func (h *handlers) tenantDevices(c echo.Context, p *auth.Principal) ([]auth.DeviceRecord, error) {
	devs, err := h.o.Auth.Devices().List(c.Request().Context(), p.Tenant)
	if err != nil {
		return nil, err
	}
	out := devs[:0]
	for _, d := range devs {
		if d.TenantID == p.TenantID {
			out = append(out, d)
		}
	}
	return out, nil
}

func (h *handlers) listDevices(c echo.Context) error {
	p := authmw.PrincipalFrom(c)
	devs, err := h.tenantDevices(c, p)
	return h.done(c, "device.list", p.Tenant, err, http.StatusOK, map[string]any{"devices": devs})
}

// revokeDevice revokes the tenant's device named by id or by name (its live devices
// of that name); another tenant's device, or an unknown one, is not_found.
func (h *handlers) revokeDevice(c echo.Context, p *auth.Principal, ref string) error {
	devs, err := h.tenantDevices(c, p)
	n := 0
	for _, d := range devs {
		if err != nil || d.RevokedAt != nil || (d.ID != ref && d.Name != ref) {
			continue
		}
		if err = h.o.Auth.Devices().Revoke(c.Request().Context(), d.ID); err == nil {
			n++
		}
	}
	if err == nil && n == 0 {
		err = protocol.Errorf(protocol.CodeNotFound, "no such device")
	}
	return h.done(c, "device.revoke", clip(ref), err, http.StatusOK, map[string]any{"revoked": n})
}
