package limits

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrLimit is matched by every limit error.
var ErrLimit = errors.New("limit exceeded")

// Upload counts the bytes of one upload against a maximum. It is not safe
// for concurrent use (one upload stream is read by one goroutine).
type Upload struct {
	max int64
	n   int64
}

// NewUpload returns a counter for one upload of at most max bytes; max <=
// 0 means no limit.
func NewUpload(max int64) *Upload { return &Upload{max: max} }

// Add counts a chunk of n bytes and fails once the total exceeds the
// maximum.
func (u *Upload) Add(n int) error {
	u.n += int64(n)
	if u.max > 0 && u.n > u.max {
		return fmt.Errorf("limits: upload is larger than %d bytes (--max-upload-bytes): %w", u.max, ErrLimit)
	}
	return nil
}

// Total returns the bytes counted so far.
func (u *Upload) Total() int64 { return u.n }

type reader struct {
	r io.Reader
	u *Upload
}

// NewReader returns a reader of r that fails with an ErrLimit error once
// more than max bytes have been read (max <= 0: no limit). Unlike
// io.LimitReader it reports the excess instead of a silent EOF.
func NewReader(r io.Reader, max int64) io.Reader {
	return &reader{r: r, u: NewUpload(max)}
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if lerr := r.u.Add(n); lerr != nil {
		return 0, lerr
	}
	return n, err
}

// Jobs limits how many jobs each user runs at once. It is safe for
// concurrent use.
type Jobs struct {
	max     int
	mu      sync.Mutex
	running map[string]int
}

// NewJobs returns a limiter allowing max running jobs per user; max <= 0
// means no limit (counts are still kept).
func NewJobs(max int) *Jobs {
	return &Jobs{max: max, running: map[string]int{}}
}

// Acquire counts one more running job for user, or fails without
// counting it if user is at the limit.
func (j *Jobs) Acquire(user string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.max > 0 && j.running[user] >= j.max {
		return fmt.Errorf("limits: user %s already runs %d jobs, the limit (--max-jobs-per-user): %w", user, j.running[user], ErrLimit)
	}
	j.running[user]++
	return nil
}

// Restore counts a running job for user without checking the limit
// (jobs recovered after a master restart).
func (j *Jobs) Restore(user string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.running[user]++
}

// Release counts one job of user as finished. Releasing more than was
// acquired is ignored.
func (j *Jobs) Release(user string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.running[user] <= 1 {
		delete(j.running, user)
		return
	}
	j.running[user]--
}

// Running returns how many jobs user runs.
func (j *Jobs) Running(user string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.running[user]
}
