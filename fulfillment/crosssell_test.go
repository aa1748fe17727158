package fulfillment

import (
	"strings"
	"testing"
)

func TestCrossSellsTag(t *testing.T) {
	t.Parallel()
	cs := CrossSells{"prod_camera": "prod_cloth", "prod_tent": "prod_stakes"}
	tests := []struct {
		name     string
		products []string
		qty      map[string]int64
		wantOf   map[string]string // product → base it is tagged as cross-sell of
		wantOdd  int
	}{
		{"base and cross-sell", []string{"prod_camera", "prod_cloth", "prod_mug"}, nil, map[string]string{"prod_cloth": "prod_camera"}, 0},
		{"cross-sell product bought alone is not a cross-sell", []string{"prod_cloth"}, nil, map[string]string{}, 0},
		{"two pairs", []string{"prod_tent", "prod_stakes", "prod_camera", "prod_cloth"}, nil, map[string]string{"prod_cloth": "prod_camera", "prod_stakes": "prod_tent"}, 0},
		{"quantity other than 1 is tagged and reported", []string{"prod_camera", "prod_cloth"}, map[string]int64{"prod_cloth": 3}, map[string]string{"prod_cloth": "prod_camera"}, 1},
		{"no settings", nil, nil, map[string]string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var items []LineItem
			for i, p := range tt.products {
				q := int64(1)
				if n, ok := tt.qty[p]; ok {
					q = n
				}
				items = append(items, LineItem{ID: "li_" + string(rune('a'+i)), ProductID: p, Quantity: q})
			}
			odd := cs.Tag(items)
			if len(odd) != tt.wantOdd {
				t.Errorf("odd = %d, want %d", len(odd), tt.wantOdd)
			}
			for _, it := range items {
				base, want := tt.wantOf[it.ProductID]
				if it.CrossSell != want || it.CrossSellOf != base {
					t.Errorf("%s: cross_sell=%v of %q, want %v of %q", it.ProductID, it.CrossSell, it.CrossSellOf, want, base)
				}
			}
		})
	}
}

func TestParseCrossSells(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, wantErr string
	}{
		{`{"prod_a":"prod_b"}`, ""},
		{`{}`, ""},
		{`[]`, "JSON object"},
		{`{"prod_a":"price_b"}`, "product ids"},
		{`{"prod_a":"prod_a"}`, "its own"},
		{`not json`, "JSON object"},
	}
	for _, tt := range tests {
		_, err := ParseCrossSells([]byte(tt.in))
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ParseCrossSells(%s) = %v, want error containing %q", tt.in, err, tt.wantErr)
		}
	}
}
