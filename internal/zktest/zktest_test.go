package zktest

import "testing"

func TestEnsembleServesAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts JVMs")
	}
	e := Start(t, 1)
	if !ruok(e.Servers()[0]) {
		t.Fatal("server not serving after Start")
	}
	e.Kill(0)
	if ruok(e.Servers()[0]) {
		t.Fatal("server still serving after Kill")
	}
	e.Start(0)
	e.WaitServing(0)
}
