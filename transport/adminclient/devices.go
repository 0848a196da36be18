package adminclient

import (
	"context"
	"net/url"

	"github.com/syncspace/syncspace/auth"
)

// EnrollDevice enrols a device (POST /admin/devices): its refresh secret and record.
func (c *Client) EnrollDevice(ctx context.Context, tenant, subject, role, name, certPEM string) (string, auth.DeviceRecord, error) {
	var out struct {
		RefreshToken string            `json:"refresh_token"`
		Device       auth.DeviceRecord `json:"device"`
	}
	in := map[string]any{"tenant": tenant, "subject": subject, "role": role, "device": name}
	if certPEM != "" {
		in["cert"] = certPEM
	}
	err := c.call(ctx, "POST", "/devices", nil, in, &out)
	return out.RefreshToken, out.Device, err
}

// ListDevices lists devices.
func (c *Client) ListDevices(ctx context.Context, tenant string) ([]auth.DeviceRecord, error) {
	q := url.Values{}
	if tenant != "" {
		q.Set("tenant", tenant)
	}
	var out struct {
		Devices []auth.DeviceRecord `json:"devices"`
	}
	err := c.call(ctx, "GET", "/devices", q, nil, &out)
	return out.Devices, err
}

// RevokeDevice enrols a device (POST /admin/devices): its refresh secret and record.
func (c *Client) RevokeDevice(ctx context.Context, id string) error {
	return c.call(ctx, "DELETE", "/devices/"+url.PathEscape(id), nil, nil, nil)
}
