package rcs

import (
	"testing"

	"github.com/amtrcs/amtrcs/agent/wire"
	"github.com/amtrcs/amtrcs/amt"
)

// TestCompactReport: reports kept for idle agents share their root
// hashes' names and bytes, keep their entries in arrays of their own
// size, and still say the same.
func TestCompactReport(t *testing.T) {
	v, _ := amt.ParseVersion("16.1.27")
	report := func() wire.Report {
		var r wire.Report
		tab := amt.DefaultHashTable(v)
		// Decoding grows a slice by doubling: room to spare, as here.
		r.Info.Hashes.Entries = append(make([]amt.RootHash, 0, 2*len(tab.Entries)), tab.Entries...)
		for i := range r.Info.Hashes.Entries {
			e := &r.Info.Hashes.Entries[i]
			e.Hash, e.Name = append([]byte(nil), e.Hash...), string(append([]byte(nil), e.Name...))
		}
		return r
	}
	g := newGateway(&Server{})
	a, b := report(), report()
	want := amt.DefaultHashTable(v).Entries
	g.compact(&a)
	g.compact(&b)
	if len(a.Info.Hashes.Entries) != len(want) || cap(a.Info.Hashes.Entries) != len(want) {
		t.Fatalf("%d entries with room for %d, want %d and no room to spare", len(a.Info.Hashes.Entries), cap(a.Info.Hashes.Entries), len(want))
	}
	for i, e := range b.Info.Hashes.Entries {
		if e.Name != want[i].Name || string(e.Hash) != string(want[i].Hash) || e.Active != want[i].Active {
			t.Fatalf("entry %d became %+v, want %+v", i, e, want[i])
		}
		if &e.Hash[0] != &a.Info.Hashes.Entries[i].Hash[0] {
			t.Fatalf("entry %d: the two reports hold the same hash in two copies", i)
		}
	}
	// An agent cannot grow the shared table without bound.
	for i := range 2 * maxInterned {
		r := wire.Report{}
		r.Info.Hashes.Entries = []amt.RootHash{{Name: string(rune(i)), Hash: []byte{byte(i), byte(i >> 8)}}}
		g.compact(&r)
	}
	if len(g.names) > maxInterned || len(g.hashes) > maxInterned {
		t.Fatalf("%d names and %d hashes shared, want at most %d each", len(g.names), len(g.hashes), maxInterned)
	}
}
