package webhook

import (
	"encoding/json"
	"time"
)

// TimestampFormat is the body's webhook_timestamp: UTC, milliseconds, Z.
const TimestampFormat = "2006-01-02T15:04:05.000Z"

// FormatTimestamp renders t as webhook_timestamp.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(TimestampFormat) }

// Body builds the exact bytes that are signed and sent for one delivery.
// It is a pure function of stored values, so every attempt and replay sends
// byte-identical bodies without storing one copy per delivery. data must be
// a compact JSON object (intake compacts it).
func Body(eventType string, publishedAt time.Time, deliveryID string, data []byte) []byte {
	ts := FormatTimestamp(publishedAt)
	b := make([]byte, 0, len(data)+len(eventType)+len(deliveryID)+96)
	b = append(b, `{"webhook_event":`...)
	b = appendJSONString(b, eventType)
	b = append(b, `,"webhook_timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `","webhook_delivery_id":`...)
	b = appendJSONString(b, deliveryID)
	b = append(b, `,"webhook_data":`...)
	b = append(b, data...)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	// Names and ids are validated to plain ASCII, so this is the fast path;
	// json.Marshal keeps anything else correct.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
