package ha

import "testing"

func TestOrder(t *testing.T) {
	tests := []struct {
		name      string
		children  []string
		mine      string
		wantLead  bool
		wantWatch string
		wantErr   bool
	}{
		{name: "alone", children: []string{"c_0000000007"}, mine: "c_0000000007", wantLead: true},
		{name: "lowest leads", children: []string{"c_0000000009", "c_0000000003", "c_0000000005"}, mine: "c_0000000003", wantLead: true},
		{name: "watch predecessor", children: []string{"c_0000000009", "c_0000000003", "c_0000000005"}, mine: "c_0000000009", wantWatch: "c_0000000005"},
		{name: "numeric not lexical", children: []string{"c_0000000010", "c_0000000009"}, mine: "c_0000000010", wantWatch: "c_0000000009"},
		{name: "junk ignored", children: []string{"lock", "c_x", "c_0000000002"}, mine: "c_0000000002", wantLead: true},
		{name: "gone", children: []string{"c_0000000001"}, mine: "c_0000000002", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lead, watch, err := Order(tt.children, tt.mine)
			if (err != nil) != tt.wantErr || lead != tt.wantLead || watch != tt.wantWatch {
				t.Fatalf("Order = %v %q %v, want %v %q err=%v", lead, watch, err, tt.wantLead, tt.wantWatch, tt.wantErr)
			}
		})
	}
}
