package main

import (
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/uuid"
	_ "github.com/gorilla/websocket"
	_ "github.com/labstack/echo/v4"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/vbauerster/mpb/v8"
	_ "go.uber.org/goleak"
	_ "golang.org/x/crypto/acme/autocert"
	_ "golang.org/x/text/unicode/norm"
	_ "modernc.org/sqlite"
	_ "golang.org/x/time/rate"
)

func main() {}
