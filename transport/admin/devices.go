package admin

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/guard"
)

// Device routes (SPEC §7.3):
//
//	POST   /devices {"tenant","subject","role","device","cert"?} → 201 {"refresh_token","device":record}
//	GET    /devices?tenant=                                       {"devices":[record]}
//	DELETE /devices/{id}                                          {"id","revoked":true}
//
// cert is the PEM of the device's client certificate: its tokens are then bound to it.

// EnrollRequest is the body of POST /devices.
type EnrollRequest struct {
	Tenant  string `json:"tenant"`
	Subject string `json:"subject"`
	Role    string `json:"role"`
	Device  string `json:"device"`
	Cert    string `json:"cert,omitempty"`
}

// EnrollResponse is the answer of POST /devices: the device's first refresh secret
// (shown once), its record, and the server its credential names (PUBLIC_URL).
type EnrollResponse struct {
	RefreshToken string            `json:"refresh_token"`
	Device       auth.DeviceRecord `json:"device"`
	PublicURL    string            `json:"public_url,omitempty"`
}

func (h *handlers) registerDevices(g *echo.Group, mws []echo.MiddlewareFunc) {
	g.POST("/devices", h.enrollDevice, mws...)
	g.GET("/devices", h.listDevices, mws...)
	g.DELETE("/devices/:id", h.revokeDevice, mws...)
}

func (h *handlers) enrollDevice(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	var req EnrollRequest
	if err := decodeJSON(c, &req); err != nil {
		return h.done(c, "device.enroll", "", err, 0, nil)
	}
	target := clipTarget(req.Tenant + "/" + req.Subject + "/" + req.Device)
	if req.Tenant == "" || req.Subject == "" || req.Role == "" || req.Device == "" {
		return h.done(c, "device.enroll", target, protocol.Errorf(protocol.CodeBadRequest, "fields tenant, subject, role and device are required"), 0, nil)
	}
	thumb := ""
	if req.Cert != "" {
		var err error
		if thumb, err = auth.ThumbprintPEM([]byte(req.Cert)); err != nil {
			return h.done(c, "device.enroll", target, err, 0, nil)
		}
	}
	secret, d, err := h.o.Auth.Devices().Enroll(c.Request().Context(), req.Tenant, req.Subject, req.Role, req.Device, thumb)
	if err == nil {
		target += " id=" + d.ID
	}
	return h.done(c, "device.enroll", target, err, http.StatusCreated, EnrollResponse{RefreshToken: secret, Device: d, PublicURL: h.publicURL()})
}

func (h *handlers) listDevices(c echo.Context) error {
	tenant, err := guard.Param(c, "tenant")
	var devs []auth.DeviceRecord
	if err == nil {
		devs, err = h.o.Auth.Devices().List(c.Request().Context(), tenant)
	}
	return h.done(c, "device.list", clipTarget(tenant), err, http.StatusOK, map[string]any{"devices": devs})
}

func (h *handlers) revokeDevice(c echo.Context) error {
	id := c.Param("id")
	target := h.o.Auth.Devices().DeviceTarget(c.Request().Context(), id)
	err := h.o.Auth.Devices().Revoke(c.Request().Context(), id)
	return h.done(c, "device.revoke", clipTarget(target), err, http.StatusOK, map[string]any{"id": id, "revoked": true})
}
