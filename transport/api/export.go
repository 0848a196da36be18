package api

import "github.com/labstack/echo/v4"

// DecodeJSON reads a JSON request body as every /api route does (at most 64 KiB, no
// unknown fields, identity encoding). Share links use it.
func DecodeJSON(c echo.Context, v any) error {
	return decodeJSON(c.Request(), c.Response(), v)
}
