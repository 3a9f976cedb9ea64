package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
)

// bbolt's page layout, as it writes it: a 16-byte header (page id, flags,
// element count, number of overflow pages), then elements of 16 bytes each.
const (
	pageHeaderSize  = 16
	pageElementSize = 16
	pageBranch      = 0x01
	pageLeaf        = 0x02
	pageFreelist    = 0x10
	leafBucket      = 0x01 // a leaf element whose value is a bucket
	noFreelist      = ^uint64(0)
	checkChunk      = 1 << 20 // bytes read at a time
)

// checkPages reads the file at path with pread, never through bbolt's
// mapping (so that it adds nothing to the process's resident memory), and
// checks each page in use up to the high-water mark of the newest valid
// meta page: its header names its own position, it is a branch, leaf or
// the freelist page, its overflow pages are below the high-water mark, its
// elements lie within it, and every page a branch or a bucket names is the
// first page of a page in use. After it, bbolt's own consistency check
// reads only pages within the file. Free pages (the freelist's) are
// skipped: they hold what was last written there. Every walk advances by at
// least a page, so a garbled page cannot make it loop. A file written
// without a freelist (bbolt's NoFreelistSync, which latch does not use)
// cannot be told apart from its free pages and passes.
func checkPages(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	m, err := newestMeta(f, fi.Size(), path)
	if err != nil {
		return err
	}
	if m.freelist == noFreelist {
		return nil
	}
	hwm := m.pgid
	r := &pageReader{f: f, size: int64(m.pageSize), hwm: hwm}
	if m.freelist < 2 || m.freelist >= hwm {
		return damaged(path, "its freelist is on page %d, outside its %d pages", m.freelist, hwm)
	}
	if m.root < 2 || m.root >= hwm {
		return damaged(path, "its root bucket is on page %d, outside its %d pages", m.root, hwm)
	}
	free, err := r.freelist(m.freelist)
	if err != nil {
		return damaged(path, "page %d (the freelist): %v", m.freelist, err)
	}
	start := make([]bool, hwm) // the first pages of the pages in use
	refs := []pageRef{{from: 0, to: m.root}}
	for id := uint64(2); id < hwm; {
		if id%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if free[id] {
			id++
			continue
		}
		p, err := r.page(id)
		if err != nil {
			return damaged(path, "page %d: %v", id, err)
		}
		flags := binary.LittleEndian.Uint16(p[8:])
		switch {
		case flags == pageFreelist && id == m.freelist:
		case flags == pageBranch || flags == pageLeaf:
			if refs, err = elements(p, flags, id, hwm, refs); err != nil {
				return damaged(path, "page %d: %v", id, err)
			}
		default:
			return damaged(path, "page %d: its type (flags %#x) is not a branch, leaf or freelist page", id, flags)
		}
		start[id] = true
		id += uint64(len(p)) / r.pageSize()
	}
	for _, ref := range refs {
		if !start[ref.to] || free[ref.to] {
			return damaged(path, "page %d names page %d, which is not a page in use", ref.from, ref.to)
		}
	}
	return nil
}

// pageRef is a page (to) that a branch or bucket on page from names.
type pageRef struct{ from, to uint64 }

// elements checks the elements of the branch or leaf page p (its whole
// span) and adds the pages they name to refs: every element and its key and
// value lie within p, every page named is below hwm.
func elements(p []byte, flags uint16, id, hwm uint64, refs []pageRef) ([]pageRef, error) {
	le := binary.LittleEndian
	n := int(le.Uint16(p[10:]))
	if pageHeaderSize+n*pageElementSize > len(p) {
		return refs, fmt.Errorf("its %d elements do not fit in it", n)
	}
	for i := range n {
		off := pageHeaderSize + i*pageElementSize
		e := p[off : off+pageElementSize]
		if flags == pageBranch {
			pos, ksize, child := uint64(le.Uint32(e[0:])), uint64(le.Uint32(e[4:])), le.Uint64(e[8:])
			if uint64(off)+pos+ksize > uint64(len(p)) {
				return refs, fmt.Errorf("element %d lies outside it", i)
			}
			if child < 2 || child >= hwm {
				return refs, fmt.Errorf("element %d names page %d, outside the file's %d pages", i, child, hwm)
			}
			refs = append(refs, pageRef{from: id, to: child})
			continue
		}
		eflags, pos, ksize, vsize := le.Uint32(e[0:]), uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		end := uint64(off) + pos + ksize + vsize
		if end > uint64(len(p)) {
			return refs, fmt.Errorf("element %d lies outside it", i)
		}
		if eflags&leafBucket == 0 {
			continue
		}
		v := p[uint64(off)+pos+ksize : end]
		if len(v) < 16 {
			return refs, fmt.Errorf("element %d is a bucket of %d bytes", i, len(v))
		}
		root := le.Uint64(v)
		if root == 0 { // an inline bucket: a leaf page of its own follows
			inline := v[16:]
			if len(inline) < pageHeaderSize || le.Uint16(inline[8:])&pageLeaf == 0 {
				return refs, fmt.Errorf("element %d is an inline bucket that is not a leaf", i)
			}
			if len(inline) < pageHeaderSize+int(le.Uint16(inline[10:]))*pageElementSize {
				return refs, fmt.Errorf("element %d is an inline bucket whose elements do not fit", i)
			}
			if err := inlineElements(inline); err != nil {
				return refs, fmt.Errorf("element %d is an inline bucket: %v", i, err)
			}
			continue
		}
		if root < 2 || root >= hwm {
			return refs, fmt.Errorf("element %d is a bucket on page %d, outside the file's %d pages", i, root, hwm)
		}
		refs = append(refs, pageRef{from: id, to: root})
	}
	return refs, nil
}

// inlineElements checks that the elements of an inline bucket's page lie
// within it and that none is a bucket (bbolt keeps only buckets without
// buckets inline).
func inlineElements(p []byte) error {
	le := binary.LittleEndian
	for i := range int(le.Uint16(p[10:])) {
		off := pageHeaderSize + i*pageElementSize
		e := p[off : off+pageElementSize]
		if le.Uint32(e[0:])&leafBucket != 0 {
			return fmt.Errorf("element %d is a bucket", i)
		}
		if uint64(off)+uint64(le.Uint32(e[4:]))+uint64(le.Uint32(e[8:]))+uint64(le.Uint32(e[12:])) > uint64(len(p)) {
			return fmt.Errorf("element %d lies outside it", i)
		}
	}
	return nil
}

// pageReader reads pages of a file a chunk at a time.
type pageReader struct {
	f     *os.File
	size  int64  // page size
	hwm   uint64 // pages in use
	buf   []byte
	first uint64 // the page buf starts with
}

func (r *pageReader) pageSize() uint64 { return uint64(r.size) }

// page returns the bytes of page id and its overflow pages, after checking
// that its header names id and that its overflow stays below the
// high-water mark.
func (r *pageReader) page(id uint64) ([]byte, error) {
	ps := r.pageSize()
	if id < r.first || id >= r.first+uint64(len(r.buf))/ps {
		n := min(uint64(checkChunk)/ps, r.hwm-id)
		if cap(r.buf) < int(n*ps) {
			r.buf = make([]byte, n*ps)
		}
		r.buf = r.buf[:n*ps]
		if _, err := r.f.ReadAt(r.buf, int64(id*ps)); err != nil {
			r.buf = r.buf[:0]
			return nil, fmt.Errorf("reading it failed: %v", err)
		}
		r.first = id
	}
	at := (id - r.first) * ps
	h := r.buf[at : at+ps]
	le := binary.LittleEndian
	if got := le.Uint64(h); got != id {
		return nil, fmt.Errorf("its header names page %d (garbled or overwritten)", got)
	}
	over := uint64(le.Uint32(h[12:]))
	if id+over >= r.hwm {
		return nil, fmt.Errorf("its %d overflow pages go past the file's %d pages", over, r.hwm)
	}
	if end := at + (over+1)*ps; end <= uint64(len(r.buf)) {
		return r.buf[at:end], nil
	}
	p := make([]byte, (over+1)*ps)
	if _, err := r.f.ReadAt(p, int64(id*ps)); err != nil {
		return nil, fmt.Errorf("reading it failed: %v", err)
	}
	return p, nil
}

// freelist reads the freelist page id and returns the free pages it lists
// (by page id, below the high-water mark).
func (r *pageReader) freelist(id uint64) ([]bool, error) {
	p, err := r.page(id)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	if flags := le.Uint16(p[8:]); flags != pageFreelist {
		return nil, fmt.Errorf("it is not a freelist page (flags %#x)", flags)
	}
	n, at := uint64(le.Uint16(p[10:])), uint64(pageHeaderSize)
	if n == 0xFFFF { // the count is the first id
		if len(p) < pageHeaderSize+8 {
			return nil, fmt.Errorf("it is cut short")
		}
		n, at = le.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(p))-at)/8 {
		return nil, fmt.Errorf("its %d free pages do not fit in it", n)
	}
	free := make([]bool, r.hwm)
	for i := range n {
		f := le.Uint64(p[at+i*8:])
		if f < 2 || f >= r.hwm {
			return nil, fmt.Errorf("it lists page %d as free, outside the file's %d pages", f, r.hwm)
		}
		free[f] = true
	}
	if free[id] {
		return nil, fmt.Errorf("it lists itself as free")
	}
	return free, nil
}
