package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d as a Go duration string ("30s", "720h0m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string such as "30s", "5m" or "720h". Numbers are
// refused: a bare number would be ambiguous (seconds? nanoseconds?).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"30s\" or \"720h\"")
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a Go duration such as \"30s\", \"5m\", \"720h\")", s)
	}
	*d = Duration(v)
	return nil
}

// Int64 returns s as a byte count.
func (s Size) Int64() int64 { return int64(s) }

// String formats s as bytes with the largest binary unit that divides it exactly
// ("4GiB", "1536B"), a form ParseSize reads back.
func (s Size) String() string {
	units := []string{"EiB", "PiB", "TiB", "GiB", "MiB", "KiB"}
	n := int64(s)
	if n == 0 {
		return "0B"
	}
	for i, u := range units {
		m := int64(1) << (10 * (len(units) - i))
		if n%m == 0 {
			return strconv.FormatInt(n/m, 10) + u
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// MarshalJSON writes s as a plain number of bytes.
func (s Size) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatInt(int64(s), 10)), nil
}

// UnmarshalJSON reads a JSON number of bytes (a non-negative integer) or a string that
// ParseSize accepts.
func (s *Size) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := ParseSize(str)
		if err != nil {
			return err
		}
		*s = Size(v)
		return nil
	}
	v, err := ParseSize(string(b))
	if err != nil {
		return fmt.Errorf("want a size such as \"4GiB\", \"500MB\" or a number of bytes")
	}
	*s = Size(v)
	return nil
}

// sizeUnits maps a lowercase unit to its multiplier. Decimal units (KB, MB, ...) are
// powers of 1000, binary units (KiB, MiB, ...) powers of 1024, as in SPEC §1.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1000, "kb": 1000, "m": 1000 * 1000, "mb": 1000 * 1000,
	"g": 1000 * 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"t": 1000 * 1000 * 1000 * 1000, "tb": 1000 * 1000 * 1000 * 1000,
	"p": 1000 * 1000 * 1000 * 1000 * 1000, "pb": 1000 * 1000 * 1000 * 1000 * 1000,
	"e": 1000 * 1000 * 1000 * 1000 * 1000 * 1000, "eb": 1000 * 1000 * 1000 * 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50, "eib": 1 << 60,
}

// ParseSize parses a byte count: a non-negative number with an optional unit, such as
// "1024", "500MB", "4GiB", "1.5 GiB". Units are case-insensitive; KB/MB/GB/TB/PB/EB (and
// K/M/G/T/P/E) are powers of 1000, KiB/MiB/GiB/TiB/PiB/EiB powers of 1024. A fraction is
// allowed only when the result is a whole number of bytes. Negative values, values over
// math.MaxInt64 and anything else are errors.
func ParseSize(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	if len(s) > 64 {
		return 0, fmt.Errorf("invalid size (too long)")
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	if num == "" || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, fmt.Errorf("invalid size %q (want e.g. \"4GiB\", \"500MB\", \"1024\")", orig)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("invalid size unit in %q (want B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, ...)", orig)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q", orig)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", orig)
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, fmt.Errorf("size %q is too large", orig)
	}
	return n.Int64(), nil
}
