package mediaimage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/keelhq/keel/domain"
)

// maxAVIFHeader bounds what avifDimensions reads: an AVIF's meta box,
// which holds the image's size, comes before its pixels (mdat) in the
// files encoders write, and takes a few hundred bytes. The media service
// hands over at most this much anyway.
const maxAVIFHeader = 1 << 20

// maxAVIFBoxes bounds the boxes avifDimensions visits, so that a file of
// tiny nested boxes costs no more than a few thousand steps.
const maxAVIFBoxes = 10_000

var errAVIF = errors.New("avif: no image size")

// avifDimensions reads the size of an AVIF's primary image from its ISO
// base media file format boxes (ISO/IEC 23008-12, HEIF): the item that
// meta/pitm names, and of the properties that meta/iprp/ipma associates
// with it, its ispe (image spatial extents), with the width and height
// swapped when an irot turns it a quarter. A file without pitm or ipma
// takes its first ispe. It never decodes pixels, reads at most
// maxAVIFHeader bytes, and checks every length against what is left, so
// a hostile file is an error, never a panic or a large allocation.
func avifDimensions(r io.Reader) (width, height int, err error) {
	buf, err := io.ReadAll(io.LimitReader(r, maxAVIFHeader))
	if err != nil {
		return 0, 0, err
	}
	p := avifParser{}
	meta, ok := p.find(buf, "meta")
	if !ok || len(meta) < 4 {
		return 0, 0, errAVIF
	}
	meta = meta[4:] // version and flags
	primary, hasPrimary := uint32(0), false
	if pitm, ok := p.find(meta, "pitm"); ok && len(pitm) >= 6 {
		if pitm[0] == 0 {
			primary, hasPrimary = uint32(binary.BigEndian.Uint16(pitm[4:])), true
		} else if len(pitm) >= 8 {
			primary, hasPrimary = binary.BigEndian.Uint32(pitm[4:]), true
		}
	}
	iprp, ok := p.find(meta, "iprp")
	if !ok {
		return 0, 0, errAVIF
	}
	ipco, ok := p.find(iprp, "ipco")
	if !ok {
		return 0, 0, errAVIF
	}
	props := p.children(ipco)
	var assoc []int // 1-based indexes into props
	if ipma, ok := p.find(iprp, "ipma"); ok && hasPrimary {
		assoc = ipmaOf(ipma, primary)
	}
	if assoc == nil {
		for i := range props {
			assoc = append(assoc, i+1)
		}
	}
	width, height, turned := 0, 0, false
	for _, i := range assoc {
		if i < 1 || i > len(props) {
			continue
		}
		b := props[i-1]
		switch {
		case b.typ == "ispe" && width == 0 && len(b.body) >= 12:
			width, height = int(binary.BigEndian.Uint32(b.body[4:])), int(binary.BigEndian.Uint32(b.body[8:]))
		case b.typ == "irot" && len(b.body) >= 1:
			turned = b.body[0]&1 == 1
		}
	}
	if width <= 0 || height <= 0 {
		return 0, 0, errAVIF
	}
	if turned {
		width, height = height, width
	}
	return width, height, nil
}

// avifBox is one box: its four-character type and its body.
type avifBox struct {
	typ  string
	body []byte
}

// avifParser walks boxes, counting them against maxAVIFBoxes.
type avifParser struct{ visited int }

// children splits b into its boxes, stopping at the first malformed one
// (a length shorter than its header or longer than what is left).
func (p *avifParser) children(b []byte) []avifBox {
	var out []avifBox
	for len(b) >= 8 && p.visited < maxAVIFBoxes {
		p.visited++
		size, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
		typ := string(b[4:8])
		switch size {
		case 0: // to the end
			size = uint64(len(b))
		case 1: // a 64-bit size follows
			if len(b) < 16 {
				return out
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return out
		}
		out = append(out, avifBox{typ, b[hdr:size]})
		b = b[size:]
	}
	return out
}

// find returns the body of the first box of type typ among b's boxes.
func (p *avifParser) find(b []byte, typ string) ([]byte, bool) {
	for _, c := range p.children(b) {
		if c.typ == typ {
			return c.body, true
		}
	}
	return nil, false
}

// ipmaOf returns the 1-based property indexes that an ipma box's body
// associates with item, or nil when it names the item nowhere or is
// malformed.
func ipmaOf(b []byte, item uint32) []int {
	if len(b) < 8 {
		return nil
	}
	version, flags := b[0], b[3]
	n := binary.BigEndian.Uint32(b[4:])
	b = b[8:]
	for range n {
		var id uint32
		if version < 1 {
			if len(b) < 2 {
				return nil
			}
			id, b = uint32(binary.BigEndian.Uint16(b)), b[2:]
		} else {
			if len(b) < 4 {
				return nil
			}
			id, b = binary.BigEndian.Uint32(b), b[4:]
		}
		if len(b) < 1 {
			return nil
		}
		count := int(b[0])
		b = b[1:]
		width := 1
		if flags&1 == 1 {
			width = 2
		}
		if len(b) < count*width {
			return nil
		}
		if id == item {
			out := make([]int, 0, count)
			for i := range count {
				if width == 2 {
					out = append(out, int(binary.BigEndian.Uint16(b[2*i:])&0x7fff))
				} else {
					out = append(out, int(b[i]&0x7f))
				}
			}
			return out
		}
		b = b[count*width:]
	}
	return nil
}

// avifConfig is Dimensions for AVIF: domain.ErrMediaCorrupt when the
// header holds no size.
func avifConfig(r io.Reader) (int, int, error) {
	w, h, err := avifDimensions(r)
	if err != nil {
		return 0, 0, domain.ErrMediaCorrupt.WithCause(fmt.Errorf("avif header: %w", err))
	}
	return w, h, nil
}
