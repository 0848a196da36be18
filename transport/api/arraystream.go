package api

import (
	"bufio"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
)

// entriesStream writes a 200 JSON answer of the form {HEAD,"entries":[...]} one entry
// at a time (listings, /api/deleted), never the whole array in memory. Once open has
// written the head the answer cannot become an error answer: a caller that fails after
// it returns its error without close, leaving the answer truncated (invalid JSON) so
// that no client mistakes it for a whole one.
type entriesStream struct {
	resp *echo.Response
	bw   *bufio.Writer
	enc  *json.Encoder
	n    int
}

// open writes the status, the header and head, the answer's object up to its
// "entries" member (for example `{"path":"a"`, no closing brace).
func (s *entriesStream) open(head []byte) error {
	s.resp.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	s.resp.WriteHeader(http.StatusOK)
	s.bw = bufio.NewWriterSize(s.resp, 32<<10)
	s.enc = json.NewEncoder(s.bw)
	s.bw.Write(head)
	_, err := s.bw.WriteString(`,"entries":[`)
	return err
}

// opened reports whether open was called.
func (s *entriesStream) opened() bool { return s.bw != nil }

// entry writes one element of the array.
func (s *entriesStream) entry(v any) error {
	if s.n > 0 {
		if err := s.bw.WriteByte(','); err != nil {
			return err
		}
	}
	s.n++
	// Encode appends a newline, which is valid JSON whitespace.
	return s.enc.Encode(v)
}

// close ends the array and the object and flushes the answer.
func (s *entriesStream) close() error {
	if _, err := s.bw.WriteString("]}\n"); err != nil {
		return err
	}
	return s.bw.Flush()
}
