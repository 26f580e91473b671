package domain

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
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
//
// IDs made by one process are strictly increasing even within one
// millisecond, or when the clock steps back: the 12 bits after the
// timestamp count up (RFC 9562, section 6.2, method 3), so events written
// in one burst list in the order they happened.
func NewID(prefix string, now time.Time) string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails on supported platforms.
	ms, seq := nextTick(uint64(now.UnixMilli()), uint16(u[6])<<8|uint16(u[7]))
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | byte(seq>>8)&0x0f // version 7, then the counter's top 4 bits
	u[7] = byte(seq)
	u[8] = 0x80 | (u[8] & 0x3f) // RFC 9562 variant
	return prefix + "_" + encodeID(u)
}

var (
	idMu     sync.Mutex
	idLastMS uint64
	idSeq    uint16
)

// nextTick returns the timestamp and 12-bit counter of the next ID. A new
// millisecond starts the counter at a random value in its lower half, which
// leaves room to count up; an exhausted counter borrows the next
// millisecond.
func nextTick(ms uint64, random uint16) (uint64, uint16) {
	idMu.Lock()
	defer idMu.Unlock()
	if ms > idLastMS {
		idLastMS, idSeq = ms, random&0x07ff
		return idLastMS, idSeq
	}
	idSeq++
	if idSeq > 0x0fff {
		idLastMS, idSeq = idLastMS+1, 0
	}
	return idLastMS, idSeq
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
