package webhook

import "encoding/json"

// EventTypeCreditsLowBalance is published into an account when a reported
// balance falls below armed alert thresholds (SPEC §8). It is an ordinary
// catalog type, not a reserved one: accounts subscribe to it.
const EventTypeCreditsLowBalance = "credits.low_balance"

// CreditsLowBalanceType is the catalog entry created for it when an
// account's credit alerts are first configured, unless the operator has
// defined the type already.
var CreditsLowBalanceType = EventType{
	Name:        EventTypeCreditsLowBalance,
	Description: "The account balance crosses one or more configured alert thresholds.",
	Example:     json.RawMessage(`{"balance":4.5,"previous_balance":12,"thresholds_crossed":[10,5]}`),
}

// CreditsLowBalanceData is the data of a credits.low_balance event.
type CreditsLowBalanceData struct {
	Balance           float64   `json:"balance"`
	PreviousBalance   *float64  `json:"previous_balance"` // null on an account's first report
	ThresholdsCrossed []float64 `json:"thresholds_crossed"`
}
