package archive

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"roster/internal/store"
)

// File is one archive file: the events from First to Last, in log order.
type File struct {
	Path        string
	First, Last int64
}

const (
	filePrefix = "events-"
	fileSuffix = ".ndjson.gz"
)

// fileName names the archive of positions first to last so that names
// sort in log order.
func fileName(first, last int64) string {
	return fmt.Sprintf("%s%020d-%020d%s", filePrefix, first, last, fileSuffix)
}

// Files lists the archive files in dir in log order; a missing dir has
// none.
func Files(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive: list %s: %w", dir, err)
	}
	var out []File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, filePrefix) || !strings.HasSuffix(name, fileSuffix) {
			continue
		}
		var f File
		if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(name, filePrefix), fileSuffix), "%d-%d", &f.First, &f.Last); err != nil {
			continue
		}
		f.Path = filepath.Join(dir, name)
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b File) int { return int(min(max(a.First-b.First, -1), 1)) })
	return out, nil
}

// Write archives events (in log order, at least one) into a new gzip'd
// NDJSON file in dir. The file appears under its name only once it is
// complete and synced, so that a crash leaves no half archive that a
// trim could rely on.
func Write(dir string, events []store.Event) (File, error) {
	if len(events) == 0 {
		return File{}, errors.New("archive: nothing to write")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return File{}, fmt.Errorf("archive: %w", err)
	}
	f := File{First: events[0].Seq, Last: events[len(events)-1].Seq}
	f.Path = filepath.Join(dir, fileName(f.First, f.Last))
	tmp, err := os.CreateTemp(dir, ".tmp-"+filePrefix+"*")
	if err != nil {
		return File{}, fmt.Errorf("archive: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	zw := gzip.NewWriter(tmp)
	bw := bufio.NewWriterSize(zw, 256<<10)
	var line []byte
	for i := range events {
		if line, err = AppendLine(line[:0], &events[i]); err != nil {
			tmp.Close()
			return File{}, err
		}
		if _, err := bw.Write(line); err != nil {
			tmp.Close()
			return File{}, fmt.Errorf("archive: write %s: %w", f.Path, err)
		}
	}
	err = errors.Join(bw.Flush(), zw.Close(), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), f.Path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return File{}, fmt.Errorf("archive: write %s: %w", f.Path, err)
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Reader reads the events of one archive file in order.
type Reader struct {
	f  *os.File
	zr *gzip.Reader
	sc *bufio.Scanner
}

// maxLine bounds a line: a batch file's line may be a whole batch at the
// ingestion body limit, with room to spare.
const maxLine = 16 << 20

// Open opens an archive file.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("archive: %s: %w", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return &Reader{f: f, zr: zr, sc: sc}, nil
}

// Next returns the next event, or io.EOF after the last.
func (r *Reader) Next() (store.Event, error) {
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		e, err := ParseLine(line)
		if err != nil {
			return e, fmt.Errorf("%s: %w", r.f.Name(), err)
		}
		e.Body = append([]byte(nil), e.Body...)
		return e, nil
	}
	if err := r.sc.Err(); err != nil {
		return store.Event{}, fmt.Errorf("archive: %s: %w", r.f.Name(), err)
	}
	return store.Event{}, io.EOF
}

// Close closes the file.
func (r *Reader) Close() error { return errors.Join(r.zr.Close(), r.f.Close()) }

// LogReader is the log that Log reads after the archives.
type LogReader interface {
	Read(ctx context.Context, after int64, limit int) ([]store.Event, error)
}

// Log reads the archived events and then the log, as one log: what
// `roster rebuild` applies when retention has trimmed the log. Reads must
// go forward (as a processor's do); each file is read once.
type Log struct {
	files []File
	next  LogReader
	open  *Reader
	at    int // index of the open file
	pos   int64
}

// NewLog returns the log of the archives in dir followed by next.
func NewLog(dir string, next LogReader) (*Log, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	return &Log{files: files, next: next, at: -1}, nil
}

// Archived is the last position the archives hold (0 for none).
func (l *Log) Archived() int64 {
	if len(l.files) == 0 {
		return 0
	}
	return l.files[len(l.files)-1].Last
}

// Read implements the processor's log: up to limit events after after.
func (l *Log) Read(ctx context.Context, after int64, limit int) ([]store.Event, error) {
	var out []store.Event
	for len(out) < limit {
		i := slices.IndexFunc(l.files, func(f File) bool { return f.Last > after })
		if i < 0 {
			break
		}
		if l.at != i || l.pos > after {
			if err := l.openFile(i); err != nil {
				return nil, err
			}
		}
		for len(out) < limit {
			e, err := l.open.Next()
			if err == io.EOF {
				l.closeFile()
				after = l.files[i].Last
				break
			}
			if err != nil {
				return nil, err
			}
			l.pos = e.Seq
			if e.Seq > after {
				out = append(out, e)
				after = e.Seq
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if len(out) == limit {
		return out, nil
	}
	rest, err := l.next.Read(ctx, max(after, l.Archived()), limit-len(out))
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}

func (l *Log) openFile(i int) error {
	l.closeFile()
	r, err := Open(l.files[i].Path)
	if err != nil {
		return err
	}
	l.open, l.at, l.pos = r, i, 0
	return nil
}

func (l *Log) closeFile() {
	if l.open != nil {
		l.open.Close()
		l.open, l.at = nil, -1
	}
}

// Close closes the file being read.
func (l *Log) Close() { l.closeFile() }
