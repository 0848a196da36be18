package fsys

import "testing"

// TestReleaseAtLeast: releases as uname reports them, and strings that are not
// releases (which count as older).
func TestReleaseAtLeast(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		want bool
	}{
		{"5.8", true},
		{"5.8.0", true},
		{"5.10.0-28-amd64", true},
		{"6.18.0-rc1", true},
		{"6.18.44-fc-v1300", true},
		{"6.0", true},
		{"10.1", true},
		{"5.7.19-foo", false},
		{"5.7", false},
		{"4.19.0", false},
		{"3.10.0-1160.el7.x86_64", false},
		{"5", false},
		{"5.", false},
		{"5.x", false},
		{".8", false},
		{"v5.8", false},
		{" 5.8", false},
		{"5-8", false},
		{"garbage", false},
		{"", false},
		{"99999999999999999999.1", false},
		{"5.99999999999999999999", false},
	} {
		if got := releaseAtLeast(tc.rel, 5, 8); got != tc.want {
			t.Errorf("releaseAtLeast(%q, 5, 8) = %v, want %v", tc.rel, got, tc.want)
		}
	}
}
