package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// ErrDamaged is wrapped when the database file is not a whole bbolt file:
// truncated, zeroed, or with pages that point outside the file or at each
// other. Open refuses such a file before bbolt maps it, since bbolt trusts
// its pages and crashes the process (in a goroutine of its own, where no
// recover reaches) on one that lies.
var ErrDamaged = errors.New("damaged store")

// The bbolt file format (go.etcd.io/bbolt/internal/common), read here with
// bounds checks instead of through the memory map. bbolt writes these
// structures in the machine's byte order.
const (
	boltMagic     = 0xED0CDAED
	boltVersion   = 2
	pageHeader    = 16 // id u64, flags u16, count u16, overflow u32
	elementSize   = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeader  = 16 // root pgid u64, sequence u64
	metaChecksum  = 56 // bytes of the meta summed by its checksum
	metaSize      = metaChecksum + 8
	noFreelist    = ^uint64(0)
	flagBranch    = 0x01
	flagLeaf      = 0x02
	flagFreelist  = 0x10
	flagBucket    = 0x01 // on a leaf element whose value is a bucket
	minPageSize   = 1 << 10
	maxPageSize   = 1 << 24 // the largest page size bbolt looks for
	firstDataPage = 2       // pages 0 and 1 are the metas
)

var ne = binary.NativeEndian

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64 // pages in use: the file must hold at least this many
	txid     uint64
}

// readMeta decodes the meta that starts at b[pageHeader:], or says why not.
func readMeta(b []byte) (boltMeta, error) {
	if len(b) < pageHeader+metaSize {
		return boltMeta{}, errors.New("cut short")
	}
	m := b[pageHeader:]
	switch {
	case ne.Uint32(m[0:]) != boltMagic:
		return boltMeta{}, errors.New("no bbolt magic number")
	case ne.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("format version %d, want %d", ne.Uint32(m[4:]), boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksum])
	if h.Sum64() != ne.Uint64(m[metaChecksum:]) {
		return boltMeta{}, errors.New("checksum mismatch")
	}
	meta := boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		hwm:      ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}
	if meta.pageSize < minPageSize || meta.pageSize > maxPageSize || meta.pageSize&(meta.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d, want a power of two from %d to %d", meta.pageSize, minPageSize, maxPageSize)
	}
	return meta, nil
}

// damage is one finding of checkFile: what was seen and what was wanted.
type damage struct{ seen, want string }

func (d *damage) Error() string { return d.seen + ", want " + d.want }

// fileChecker walks a bbolt file as bbolt's own consistency check does
// (tx.Check), reading pages with ReadAt so that a lie in the file is an
// error here rather than a fault in the map.
type fileChecker struct {
	f        io.ReaderAt
	size     int64
	meta     boltMeta
	pageSize int64
	seen     []bool // pages reached so far; a page reached twice is a cycle or a shared page
}

// checkFile checks that the bbolt file f of size bytes is whole: a valid
// meta page, every page it reaches inside the file and reached once, every
// element inside its page, keys in order. It reads every page in use once,
// as bbolt itself does when it rebuilds the freelist at open.
func checkFile(f io.ReaderAt, size int64) error {
	if size == 0 {
		return &damage{"the file is 0 bytes", "a bbolt database, which is never empty once created (bbolt writes its meta pages first)"}
	}
	meta, err := pickMeta(f, size)
	if err != nil {
		return err
	}
	c := &fileChecker{f: f, size: size, meta: meta, pageSize: int64(meta.pageSize)}
	if meta.hwm < firstDataPage+1 || meta.hwm > uint64(size/c.pageSize) {
		return &damage{
			fmt.Sprintf("the file is %d bytes (%d pages of %d) and its meta page says %d pages are in use", size, size/c.pageSize, c.pageSize, meta.hwm),
			"a file holding every page in use (was it truncated, or copied while amtrcs was writing?)",
		}
	}
	c.seen = make([]bool, meta.hwm)
	c.seen[0], c.seen[1] = true, true
	if meta.freelist != noFreelist {
		if err := c.checkFreelist(meta.freelist); err != nil {
			return err
		}
	}
	return c.checkTree(meta.root, nil, nil, 0)
}

// pickMeta chooses the meta page bbolt will use: of the two, the valid one
// with the higher transaction id. bbolt finds the page size in the first
// meta, or, when that one is damaged, by looking for the second at each
// possible page size.
func pickMeta(f io.ReaderAt, size int64) (boltMeta, error) {
	buf := make([]byte, pageHeader+metaSize)
	read := func(off int64) (boltMeta, error) {
		if off+int64(len(buf)) > size {
			return boltMeta{}, errors.New("cut short")
		}
		if _, err := f.ReadAt(buf, off); err != nil {
			return boltMeta{}, err
		}
		return readMeta(buf)
	}
	m0, err0 := read(0)
	pageSize := int64(m0.pageSize)
	var m1 boltMeta
	var err1 error
	if err0 == nil {
		m1, err1 = read(pageSize)
	} else {
		err1 = errors.New("not found at any page size")
		for ps := int64(minPageSize); ps <= maxPageSize && ps < size; ps *= 2 {
			if m, err := read(ps); err == nil && int64(m.pageSize) == ps {
				m1, err1, pageSize = m, nil, ps
				break
			}
		}
	}
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, &damage{
			fmt.Sprintf("neither meta page is valid (first: %v; second: %v)", err0, err1),
			"a bbolt database with at least one valid meta page (is this the amtrcs.db file, whole?)",
		}
	case err0 != nil:
		return m1, nil
	case err1 != nil:
		return m0, nil
	case m1.pageSize != m0.pageSize:
		return boltMeta{}, &damage{
			fmt.Sprintf("the meta pages give page sizes %d and %d", m0.pageSize, m1.pageSize),
			"one page size",
		}
	case m1.txid > m0.txid:
		return m1, nil
	}
	return m0, nil
}

// readPage reads page id and its overflow pages, checking that they lie
// below the meta's high-water mark, that the page is the one asked for, and
// that no other reference reached it before.
func (c *fileChecker) readPage(id uint64, parent string) ([]byte, error) {
	if id < firstDataPage || id >= c.meta.hwm {
		return nil, &damage{fmt.Sprintf("%s points to page %d", parent, id), fmt.Sprintf("a page from %d to %d", firstDataPage, c.meta.hwm-1)}
	}
	var h [pageHeader]byte
	if _, err := c.f.ReadAt(h[:], int64(id)*c.pageSize); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	if got := ne.Uint64(h[0:]); got != id {
		return nil, &damage{fmt.Sprintf("page %d (reached from %s) carries the id %d", id, parent, got), "the page's own id"}
	}
	overflow := uint64(ne.Uint32(h[12:]))
	if id+overflow >= c.meta.hwm {
		return nil, &damage{fmt.Sprintf("page %d runs on for %d overflow pages, past page %d", id, overflow, c.meta.hwm-1), "pages inside the file"}
	}
	for p := id; p <= id+overflow; p++ {
		if c.seen[p] {
			return nil, &damage{fmt.Sprintf("page %d (reached from %s) is reached twice", p, parent), "each page reached once"}
		}
		c.seen[p] = true
	}
	b := make([]byte, int64(overflow+1)*c.pageSize)
	if _, err := c.f.ReadAt(b, int64(id)*c.pageSize); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	return b, nil
}

func (c *fileChecker) checkFreelist(id uint64) error {
	p, err := c.readPage(id, "the meta page's freelist")
	if err != nil {
		return err
	}
	if flags := ne.Uint16(p[8:]); flags != flagFreelist {
		return &damage{fmt.Sprintf("freelist page %d has type %#x", id, flags), fmt.Sprintf("type %#x (freelist)", flagFreelist)}
	}
	start, count := pageHeader, uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF {
		// An overflowing count is stored as the first element.
		count = ne.Uint64(p[pageHeader:])
		start += 8
	}
	if count > uint64(len(p)-start)/8 {
		return &damage{fmt.Sprintf("freelist page %d lists %d pages", id, count), fmt.Sprintf("at most the %d its %d bytes hold", (len(p)-start)/8, len(p))}
	}
	for i := range count {
		if free := ne.Uint64(p[start+int(i)*8:]); free < firstDataPage || free >= c.meta.hwm {
			return &damage{fmt.Sprintf("freelist page %d lists page %d as free", id, free), fmt.Sprintf("a page from %d to %d", firstDataPage, c.meta.hwm-1)}
		}
	}
	return nil
}

// checkTree checks the B+tree rooted at page id, whose keys must lie in
// [lo, hi) (nil: unbounded), and the trees of the buckets it holds.
func (c *fileChecker) checkTree(id uint64, lo, hi []byte, depth int) error {
	p, err := c.readPage(id, fmt.Sprintf("the tree above page %d", id))
	if err != nil {
		return err
	}
	return c.checkNode(id, p, lo, hi, depth)
}

// checkNode checks one branch or leaf page held in p (a page read from the
// file, or an inline bucket's page inside a value, id 0).
func (c *fileChecker) checkNode(id uint64, p []byte, lo, hi []byte, depth int) error {
	where := fmt.Sprintf("page %d", id)
	if id == 0 {
		where = "an inline bucket"
	}
	if len(p) < pageHeader {
		return &damage{where + " is shorter than a page header", fmt.Sprintf("at least %d bytes", pageHeader)}
	}
	// A tree deeper than this has a cycle that the seen pages missed (inline
	// buckets are not pages) or was built by something other than bbolt.
	if depth > 64 {
		return &damage{fmt.Sprintf("%s is %d levels deep", where, depth), "at most 64 levels of pages and buckets"}
	}
	flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
	if flags != flagBranch && flags != flagLeaf {
		return &damage{fmt.Sprintf("%s has type %#x", where, flags), fmt.Sprintf("a branch (%#x) or leaf (%#x) page", flagBranch, flagLeaf)}
	}
	if pageHeader+count*elementSize > len(p) {
		return &damage{fmt.Sprintf("%s lists %d elements", where, count), fmt.Sprintf("at most the %d its %d bytes hold", (len(p)-pageHeader)/elementSize, len(p))}
	}
	keys := make([][]byte, count)
	vals := make([][]byte, count)
	for i := range count {
		e := pageHeader + i*elementSize
		var pos, ksize, vsize uint64
		if flags == flagBranch {
			pos, ksize = uint64(ne.Uint32(p[e:])), uint64(ne.Uint32(p[e+4:]))
		} else {
			pos, ksize, vsize = uint64(ne.Uint32(p[e+4:])), uint64(ne.Uint32(p[e+8:])), uint64(ne.Uint32(p[e+12:]))
		}
		end := uint64(e) + pos + ksize + vsize
		if end > uint64(len(p)) {
			return &damage{fmt.Sprintf("element %d of %s ends at byte %d", i, where, end), fmt.Sprintf("inside its %d bytes", len(p))}
		}
		k0 := uint64(e) + pos
		keys[i], vals[i] = p[k0:k0+ksize], p[k0+ksize:end]
		switch {
		case i > 0 && bytes.Compare(keys[i-1], keys[i]) >= 0:
			return &damage{fmt.Sprintf("key %d of %s is not after key %d", i, where, i-1), "keys in increasing order"}
		case lo != nil && bytes.Compare(keys[i], lo) < 0, hi != nil && bytes.Compare(keys[i], hi) >= 0:
			return &damage{fmt.Sprintf("key %d of %s is outside the range its parent gives", i, where), "keys inside the parent's range"}
		}
	}
	for i := range count {
		e := pageHeader + i*elementSize
		if flags == flagBranch {
			next := hi
			if i+1 < count {
				next = keys[i+1]
			}
			if err := c.checkTree(ne.Uint64(p[e+8:]), keys[i], next, depth+1); err != nil {
				return err
			}
			continue
		}
		if ne.Uint32(p[e:])&flagBucket == 0 {
			continue
		}
		v := vals[i]
		var err error
		if len(v) < bucketHeader {
			return &damage{fmt.Sprintf("bucket %q in %s has a %d-byte header", keys[i], where, len(v)), fmt.Sprintf("%d bytes", bucketHeader)}
		}
		if root := ne.Uint64(v); root != 0 {
			err = c.checkTree(root, nil, nil, depth+1)
		} else {
			err = c.checkNode(0, v[bucketHeader:], nil, nil, depth+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkStoreFile runs checkFile on the file at path and words a finding as
// the refusal Open returns.
func checkStoreFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store %q: %v: make it readable and writable by the amtrcs user", path, unwrapPathError(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store %q: %v", path, err)
	}
	err = checkFile(f, st.Size())
	if err == nil {
		return nil
	}
	return damagedError(path, err)
}

func damagedError(path string, err error) error {
	return fmt.Errorf("%w: %q is not a readable amtrcs database: %v: "+
		"restore amtrcs.db from a backup (stop amtrcs, copy the backup of amtrcs.db and of its KEK file over these files, start amtrcs), "+
		"or move the file aside to start an empty store; amtrcs will not open it as it is, since that would lose or invent records", ErrDamaged, path, err)
}
