package engine

// KeyGroup returns the key group of a key hash for a max parallelism.
func KeyGroup(hash uint64, maxParallelism int) int {
	return int(hash % uint64(maxParallelism))
}

// SubtaskForKeyGroup returns the subtask that owns key group kg when a
// keyed operator runs with the given parallelism: key groups are split into
// contiguous ranges, so rescaling moves whole ranges.
func SubtaskForKeyGroup(kg, maxParallelism, parallelism int) int {
	return kg * parallelism / maxParallelism
}

// KeyGroupRange returns the key groups [from, to) owned by subtask.
func KeyGroupRange(subtask, maxParallelism, parallelism int) (from, to int) {
	from = (subtask*maxParallelism + parallelism - 1) / parallelism
	to = ((subtask+1)*maxParallelism + parallelism - 1) / parallelism
	return from, to
}
