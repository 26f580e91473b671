package domain

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// crockford is Crockford's base32 alphabet in lower case: no i, l, o or u,
// so IDs survive being read aloud or typed, and they sort in time order.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// idLen is the length of the encoded 128-bit part: 26 characters of 5 bits,
// the first of which carries only the top 3 bits.
const idLen = 26

// NewID returns a prefixed, time-sortable identifier such as
// "ins_01jdq3…": a UUIDv7 (RFC 9562) taken at now and encoded in base32.
// Sorting IDs of one prefix as strings sorts them by creation time, which
// keeps cursor pagination and B-tree inserts cheap.
func NewID(prefix string, now time.Time) string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails on supported platforms.
	ms := uint64(now.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | (u[6] & 0x0f) // version 7
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 9562 variant
	return prefix + "_" + encodeID(u)
}

// ValidID reports whether s is an identifier NewID could have made with
// prefix. Callers use it to reject garbage before it reaches a query.
func ValidID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != idLen || rest[0] > '7' {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(crockford, rest[i]) < 0 {
			return false
		}
	}
	return true
}

func encodeID(u [16]byte) string {
	hi, lo := binary.BigEndian.Uint64(u[:8]), binary.BigEndian.Uint64(u[8:])
	var out [idLen]byte
	// Walk the 130-bit number (two zero bits on top) from its low end.
	for i := idLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
