package auth

import (
	"net/url"
	"strings"
)

// queryTokenNames are the query parameters SPEC §2 refuses (case-insensitively) on
// every route: tokens are accepted only from the Authorization header or the Auth
// frame, never from a URL that ends up in logs and browser history.
var queryTokenNames = []string{"token", "access_token", "jwt"}

// QueryCarriesToken reports whether the raw query names a credential parameter. It
// splits on '&' and ';' itself (url.ParseQuery drops pairs holding ';', which would
// let "?a=1;token=x" slip through) and compares unescaped names case-insensitively.
func QueryCarriesToken(raw string) bool {
	if raw == "" {
		return false
	}
	for _, pair := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, _ := strings.Cut(pair, "=")
		if un, err := url.QueryUnescape(name); err == nil {
			name = un
		}
		name = strings.TrimSpace(name)
		for _, n := range queryTokenNames {
			if strings.EqualFold(name, n) {
				return true
			}
		}
	}
	return false
}
