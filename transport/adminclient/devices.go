package adminclient

import (
	"context"
	"net/url"

	"github.com/syncspace/syncspace/auth"
)

// Enrolled is a new device: its first refresh secret (shown once), its record, and
// the server its credential names (PUBLIC_URL; "" from a server that does not say,
// and in local mode).
type Enrolled struct {
	RefreshToken string            `json:"refresh_token"`
	Device       auth.DeviceRecord `json:"device"`
	PublicURL    string            `json:"public_url,omitempty"`
}

// EnrollDevice enrols a device (POST /admin/devices).
func (c *Client) EnrollDevice(ctx context.Context, tenant, subject, role, name, certPEM string) (Enrolled, error) {
	var out Enrolled
	in := map[string]any{"tenant": tenant, "subject": subject, "role": role, "device": name}
	if certPEM != "" {
		in["cert"] = certPEM
	}
	err := c.call(ctx, "POST", "/devices", nil, in, &out)
	return out, err
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
