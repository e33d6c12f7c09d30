package worker

import (
	"context"
	"slices"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/dag/engine"
)

// wmRecorder is an operator that records the watermarks it receives.
type wmRecorder struct{ wms []int64 }

func (r *wmRecorder) Open(context.Context, *engine.OperatorContext) error { return nil }
func (r *wmRecorder) ProcessBatch(context.Context, int, any) error        { return nil }
func (r *wmRecorder) ProcessWatermark(_ context.Context, wm int64) error {
	r.wms = append(r.wms, wm)
	return nil
}
func (r *wmRecorder) EndInput(context.Context, int) error { return nil }
func (r *wmRecorder) Close() error                        { return nil }

func TestWatermarkAlignment(t *testing.T) {
	ctx := context.Background()
	type step struct {
		ch    int
		frame string // "wm", "idle", "end"
		wm    int64
	}
	tests := []struct {
		name  string
		chans int
		steps []step
		want  []int64
	}{
		{"min of two", 2, []step{{0, "wm", 10}, {1, "wm", 5}, {1, "wm", 20}, {0, "wm", 30}}, []int64{5, 10, 20}},
		{"never backwards", 2, []step{{0, "wm", 10}, {1, "wm", 10}, {0, "wm", 8}, {1, "wm", 9}}, []int64{10}},
		{"idle channel excluded", 2, []step{{0, "wm", 10}, {1, "idle", 0}, {0, "wm", 15}, {1, "wm", 12}}, []int64{10, 15}},
		{"ended channel counts as +inf", 2, []step{{0, "wm", 10}, {1, "end", 0}, {0, "wm", 40}}, []int64{10, 40}},
		{"all ended gives final watermark", 2, []step{{0, "wm", 3}, {0, "end", 0}, {1, "end", 0}}, []int64{dag.MaxTime}},
		{"all idle holds", 2, []step{{0, "idle", 0}, {1, "idle", 0}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &wmRecorder{}
			tk := &task{nodes: []*opNode{{op: rec}}}
			chans := make([]*inChan, tt.chans)
			for i := range chans {
				chans[i] = &inChan{wm: dag.MinTime}
			}
			cur := dag.MinTime
			for _, s := range tt.steps {
				c := chans[s.ch]
				switch s.frame {
				case "wm":
					c.idle = false
					c.wm = max(c.wm, s.wm)
				case "idle":
					c.idle = true
				case "end":
					c.ended, c.wm = true, dag.MaxTime
				}
				if err := tk.advanceWatermark(ctx, chans, &cur); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(rec.wms, tt.want) {
				t.Errorf("watermarks %v, want %v", rec.wms, tt.want)
			}
		})
	}
}
