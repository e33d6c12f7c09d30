// Package limits holds small resource guards for the master: an upload
// size limit that counts bytes across the chunks of one upload
// (--max-upload-bytes), and a per-user limit on concurrently running
// jobs (--max-jobs-per-user).
//
// Errors match ErrLimit (errors.Is) so that servers can map them to
// codes.ResourceExhausted or HTTP 413/429, and they name the limit and
// the flag that sets it.
package limits
