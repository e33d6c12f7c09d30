package nexmark

import "github.com/dagflow/dagflow/dag"

// Q3Row names a seller in Oregon, Idaho or California and one of their
// category-10 auctions.
type Q3Row struct {
	Name  string
	City  string
	State string
	ID    int64 // the auction
}

// Q3 finds who sells in category 10 in OR, ID or CA, and which auctions:
// a regular (unwindowed) join of auctions and persons.
//
//	SELECT P.name, P.city, P.state, A.id
//	FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
//	WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')
func Q3(events dag.Stream[Event]) dag.Stream[Q3Row] {
	auctions := dag.FlatMap(events, func(e Event, emit func(dag.KV[int64, int64])) {
		if e.Type == AuctionEvent && e.Auction.Category == 10 {
			emit(dag.KV[int64, int64]{Key: e.Auction.Seller, Value: e.Auction.ID})
		}
	}, dag.Name("q3-auctions"))
	sellers := dag.FlatMap(events, func(e Event, emit func(q3Person)) {
		if p := e.Person; e.Type == PersonEvent && (p.State == "OR" || p.State == "ID" || p.State == "CA") {
			emit(q3Person{ID: p.ID, Name: p.Name, City: p.City, State: p.State})
		}
	}, dag.Name("q3-persons"), dag.WithCoder[q3Person](q3PersonCoder{}))
	return dag.Join(
		dag.KeyBy(auctions, func(a dag.KV[int64, int64]) int64 { return a.Key }),
		dag.KeyBy(sellers, func(p q3Person) int64 { return p.ID }),
		func(_ int64, a dag.KV[int64, int64], p q3Person) Q3Row {
			return Q3Row{Name: p.Name, City: p.City, State: p.State, ID: a.Value}
		}, dag.Name("q3"))
}

// Hash64 implements Row.
func (r Q3Row) Hash64() uint64 {
	var h hasher
	h.str(r.Name)
	h.str(r.City)
	h.str(r.State)
	h.int(r.ID)
	return h.sum()
}

// q3Person is the part of a person Q3 needs.
type q3Person struct {
	ID                int64
	Name, City, State string
}

type q3PersonCoder struct{}

func (q3PersonCoder) Append(dst []byte, p q3Person) []byte {
	return appendStrings(appendInts(dst, p.ID), p.Name, p.City, p.State)
}

func (q3PersonCoder) Decode(src []byte) (q3Person, int, error) {
	var p q3Person
	w := wire{b: src}
	w.ints(&p.ID)
	w.strings(&p.Name, &p.City, &p.State)
	return p, len(src) - len(w.b), w.check("q3 person")
}
