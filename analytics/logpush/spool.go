package logpush

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// spool is a job's on-disk buffer: one file per batch, named by a
// sequence number, replayed lowest first. A file is written to a temporary
// name and renamed, so a crash leaves whole batches or none; it is removed
// only once the sink took it (at-least-once: a batch delivered just before
// a crash is sent again after it).
type spool struct {
	dir      string
	maxBytes int64
	seqs     []uint64         // files, oldest first
	sizes    map[uint64]int64 // bytes per file
	records  map[uint64]int   // records per file
	bytes    int64
	nrec     int
}

const spoolExt = ".batch"

// startSeq numbers the first file of an empty spool, leaving room below it
// for batches put back in front at shutdown.
const startSeq = 1 << 40

func openSpool(dir string, maxBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("buffer.dir: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, sizes: map[uint64]int64{}, records: map[uint64]int{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("buffer.dir: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name)) // a write a crash interrupted
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, spoolExt), 10, 64)
		if err != nil || !strings.HasSuffix(name, spoolExt) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		s.seqs = append(s.seqs, seq)
		s.sizes[seq] = info.Size()
		s.bytes += info.Size()
		// The record count is read when the file is replayed; until then
		// it is estimated from nothing: the gauge counts files' records
		// as they are loaded.
	}
	slices.Sort(s.seqs)
	return s, nil
}

func (s *spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, spoolExt))
}

func (s *spool) empty() bool { return len(s.seqs) == 0 }

var errSpoolFull = errors.New("buffer full")

// add writes units as a new file at the back (or, front, before the first).
func (s *spool) add(units []unit, front bool) error {
	b := marshalUnits(units)
	if s.bytes+int64(len(b)) > s.maxBytes {
		return errSpoolFull
	}
	var seq uint64 = startSeq
	if len(s.seqs) > 0 {
		if front {
			seq = s.seqs[0] - 1
		} else {
			seq = s.seqs[len(s.seqs)-1] + 1
		}
	}
	p := s.path(seq)
	if err := os.WriteFile(p+".tmp", b, 0o640); err != nil {
		os.Remove(p + ".tmp")
		return fmt.Errorf("buffer: %w", err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	if front {
		s.seqs = slices.Insert(s.seqs, 0, seq)
	} else {
		s.seqs = append(s.seqs, seq)
	}
	s.sizes[seq], s.records[seq] = int64(len(b)), len(units)
	s.bytes += int64(len(b))
	s.nrec += len(units)
	return nil
}

// first reads the oldest file.
func (s *spool) first() ([]unit, error) {
	seq := s.seqs[0]
	b, err := os.ReadFile(s.path(seq))
	if err != nil {
		return nil, fmt.Errorf("buffer: %w", err)
	}
	us, err := unmarshalUnits(b)
	if err != nil {
		return nil, fmt.Errorf("buffer: %s: %w", s.path(seq), err)
	}
	if _, ok := s.records[seq]; !ok { // from before a restart
		s.records[seq] = len(us)
		s.nrec += len(us)
	}
	return us, nil
}

// replaceFirst rewrites the oldest file with what is left of it.
func (s *spool) replaceFirst(units []unit) error {
	seq := s.seqs[0]
	b := marshalUnits(units)
	p := s.path(seq)
	if err := os.WriteFile(p+".tmp", b, 0o640); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("buffer: %w", err)
	}
	s.bytes += int64(len(b)) - s.sizes[seq]
	s.nrec += len(units) - s.records[seq]
	s.sizes[seq], s.records[seq] = int64(len(b)), len(units)
	return nil
}

// removeFirst deletes the oldest file.
func (s *spool) removeFirst() {
	seq := s.seqs[0]
	os.Remove(s.path(seq))
	s.seqs = s.seqs[1:]
	s.bytes -= s.sizes[seq]
	s.nrec -= s.records[seq]
	delete(s.sizes, seq)
	delete(s.records, seq)
}

// File layout: "BWX1", count, then per unit ts, id, labels, data (varint
// lengths), then the CRC-32 (IEEE) of everything before it.
const spoolMagic = "BWX1"

func marshalUnits(units []unit) []byte {
	b := []byte(spoolMagic)
	b = binary.AppendUvarint(b, uint64(len(units)))
	for _, u := range units {
		b = binary.AppendVarint(b, u.ts)
		b = binary.AppendUvarint(b, uint64(len(u.id)))
		b = append(b, u.id...)
		b = binary.AppendUvarint(b, uint64(len(u.labels)))
		b = append(b, u.labels...)
		b = binary.AppendUvarint(b, uint64(len(u.data)))
		b = append(b, u.data...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

var errCorrupt = errors.New("corrupt batch file")

func unmarshalUnits(b []byte) ([]unit, error) {
	if len(b) < len(spoolMagic)+4 || string(b[:len(spoolMagic)]) != spoolMagic {
		return nil, errCorrupt
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return nil, errCorrupt
	}
	p := body[len(spoolMagic):]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return nil, errCorrupt
	}
	p = p[k:]
	bytesField := func() ([]byte, bool) {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, false
		}
		v := p[k : k+int(l)]
		p = p[k+int(l):]
		return v, true
	}
	units := make([]unit, 0, n)
	for range n {
		ts, k := binary.Varint(p)
		if k <= 0 {
			return nil, errCorrupt
		}
		p = p[k:]
		id, ok1 := bytesField()
		labels, ok2 := bytesField()
		data, ok3 := bytesField()
		if !ok1 || !ok2 || !ok3 {
			return nil, errCorrupt
		}
		units = append(units, unit{ts: ts, id: string(id), labels: string(labels), data: slices.Clone(data)})
	}
	if len(p) != 0 {
		return nil, errCorrupt
	}
	return units, nil
}
