package stripeevent_test

import (
	"strings"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

func TestParseEnvelope(t *testing.T) {
	t.Parallel()
	body := func(typ, object string) string {
		return `{"id":"evt_1","object":"event","type":"` + typ + `","data":{"object":` + object + `}}`
	}
	tests := []struct {
		name, body string
		wantErr    string // substring; "" means accepted
	}{
		{"checkout", body("checkout.session.completed", `{"id":"cs_1","object":"checkout.session"}`), ""},
		{"checkout without a session", body("checkout.session.completed", `{"id":"ch_1","object":"charge"}`), "without a checkout.session"},
		{"expired: not handled, any object", body("checkout.session.expired", `{}`), ""},
		{"charge.refunded", body("charge.refunded", `{"id":"ch_1","object":"charge"}`), ""},
		{"charge.refunded about a dispute", body("charge.refunded", `{"id":"dp_1","object":"dispute"}`), "charge.refunded event without a charge"},
		{"charge.refunded without an id", body("charge.refunded", `{"object":"charge"}`), "without a charge"},
		{"dispute created", body("charge.dispute.created", `{"id":"dp_1","object":"dispute"}`), ""},
		{"dispute updated", body("charge.dispute.updated", `{"id":"dp_1","object":"dispute"}`), ""},
		{"dispute closed about a charge", body("charge.dispute.closed", `{"id":"ch_1","object":"charge"}`), "without a dispute"},
		{"fraud warning", body("radar.early_fraud_warning.created", `{"id":"issfr_1","object":"radar.early_fraud_warning"}`), ""},
		{"fraud warning updated without an object", body("radar.early_fraud_warning.updated", `null`), "without a radar.early_fraud_warning"},
		{"other types pass", body("charge.succeeded", `{"id":"ch_1","object":"charge"}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, err := stripeevent.ParseEnvelope([]byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			case err == nil && env.ID != "evt_1":
				t.Errorf("envelope %+v", env)
			}
		})
	}
}
