// Package guard holds syncd's defences against slow and malformed clients, below the
// route handlers (SPEC §3 "Limits" and the query rule):
//
//   - Query: the raw query string is decoded strictly; a pair that does not decode
//     (e.g. "%zz", a ';' separator) is 400 bad_request naming the parameter, so that
//     no parameter, a precondition least of all, is ever silently dropped. Handlers
//     may read c.QueryParams() only behind this middleware (they then see exactly the
//     strictly decoded values).
//   - Middleware: every request body is read under a rate floor (fewer than
//     MinRate×Window bytes in any Window cuts it with ErrSlowBody, headers-then-nothing
//     included); an answer started before the body was read whole closes the
//     connection (Connection: close, read deadline in the past) instead of letting
//     net/http drain it; and every answer's writes push the connection's write
//     deadline Stall ahead, so a reader that stops reading is cut after Stall without
//     progress (downloads, lists, archives, change pages alike); a file copied through
//     ReadFrom goes out in one sendfile loop, its deadline pushed from beside it while
//     the file's position moves (filewatch.go).
//   - Limiter: a listener wrapper capping open connections globally and per peer
//     address; the excess is answered 503 with Retry-After: 1 and Connection: close,
//     written on the raw connection at accept time, never queued.
package guard
