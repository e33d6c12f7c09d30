package nexmark

import "github.com/dagflow/dagflow/dag"

// Q8Row is a person who registered and opened an auction in the same
// 10-second window.
type Q8Row struct {
	ID    int64
	Name  string
	Start int64 // window start, Unix ms
}

// Q8 monitors new users: the persons who opened an auction in the
// 10-second tumbling window in which they registered.
//
//	SELECT P.id, P.name, P.starttime
//	FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY id, name, window_start, window_end) P
//	JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY seller, window_start, window_end) A
//	ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
func Q8(events dag.Stream[Event]) dag.Stream[Q8Row] {
	persons := dag.FlatMap(events, func(e Event, emit func(dag.KV[int64, string])) {
		if e.Type == PersonEvent {
			emit(dag.KV[int64, string]{Key: e.Person.ID, Value: e.Person.Name})
		}
	}, dag.Name("q8-persons"))
	sellers := dag.FlatMap(events, func(e Event, emit func(int64)) {
		if e.Type == AuctionEvent {
			emit(e.Auction.Seller)
		}
	}, dag.Name("q8-sellers"))
	// GROUP BY seller and window: one record per seller and window, with
	// the window's last timestamp, so it joins within the same window.
	active := dag.WindowAggregate(dag.Window(dag.KeyBy(sellers, func(s int64) int64 { return s }), dag.Tumbling(windowSize)),
		count[int64](), dag.Name("q8-active-sellers"))
	// Person ids are unique: a person's group is the person itself.
	return dag.WindowJoin(
		dag.KeyBy(persons, func(p dag.KV[int64, string]) int64 { return p.Key }),
		dag.KeyBy(active, func(r dag.WindowResult[int64, int64]) int64 { return r.Key }),
		dag.Tumbling(windowSize),
		func(id int64, p dag.KV[int64, string], a dag.WindowResult[int64, int64]) Q8Row {
			return Q8Row{ID: id, Name: p.Value, Start: a.Start}
		}, dag.Name("q8"))
}

// Hash64 implements Row.
func (r Q8Row) Hash64() uint64 {
	var h hasher
	h.int(r.ID)
	h.str(r.Name)
	h.int(r.Start)
	return h.sum()
}
