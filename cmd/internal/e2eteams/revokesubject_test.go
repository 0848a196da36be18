package e2eteams_test

import (
	"context"
	"encoding/json"
	"testing"
)

// TestTeamRevokeSubjectStopsItsDevices: `team revoke --subject dan` (POST
// /api/team/revocations) removes a member: his device's refresh secret stops working
// too, so his client cannot redeem its way back after its socket closes 4005.
func TestTeamRevokeSubjectStopsItsDevices(t *testing.T) {
	e := newTeamEnv(t)
	code, b := e.do(t, e.adminA, "POST", "/api/team/tokens", `{"subject":"dan","role":"write","device":"laptop"}`)
	if code != 201 {
		t.Fatalf("enroll: %d %s", code, b)
	}
	var cred struct {
		RefreshToken string `json:"refresh_token"`
	}
	json.Unmarshal(b, &cred)
	redeem := func(secret string) (int, string, string) {
		code, b := e.do(t, "", "POST", "/api/token", `{"grant_type":"refresh_token","refresh_token":"`+secret+`"}`)
		var g struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			Error        string `json:"error"`
		}
		json.Unmarshal(b, &g)
		if code != 200 {
			return code, g.Error, ""
		}
		return code, g.AccessToken, g.RefreshToken
	}
	code, access, next := redeem(cred.RefreshToken)
	if code != 200 {
		t.Fatalf("redeem: %d %s", code, access) // access holds the error code here
	}
	if code, b := e.do(t, e.adminA, "POST", "/api/team/revocations", `{"subject":"dan"}`); code != 200 || string(b) != `{"revoked":1}`+"\n" {
		t.Fatalf("revoke dan: %d %s, want 200 {\"revoked\":1}", code, b)
	}
	e.s.D.Auth().Refresh(context.Background())
	if code, _ := e.do(t, access, "GET", "/api/list", ""); code != 401 {
		t.Fatalf("dan's device token after his revocation: %d", code)
	}
	if code, msg, _ := redeem(next); code != 400 || msg != "invalid_grant" {
		if code == 200 {
			msg = "a new access token" // never printed
		}
		t.Fatalf("dan's device redeemed after his revocation: %d %s", code, msg)
	}
	_, b = e.do(t, e.adminA, "GET", "/api/team/devices", "")
	var devs struct {
		Devices []struct {
			Device    string  `json:"device"`
			RevokedAt *string `json:"revoked_at"`
		} `json:"devices"`
	}
	json.Unmarshal(b, &devs)
	if len(devs.Devices) != 1 || devs.Devices[0].RevokedAt == nil {
		t.Fatalf("devices after revoking dan: %s", b)
	}
}
