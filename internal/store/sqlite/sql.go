package sqlite

import (
	"context"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/engine"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// SQLite's statements. One writer at a time: "locks" in engine.SQL needs
// nothing more here, since BEGIN IMMEDIATE already holds the database.

const deliveryColumns = `d.seq, d.id, d.account_id, e.id, v.id, d.event_type, d.subject_id, d.status, d.attempt_count,
	d.last_status_code, d.last_error, d.next_attempt_at, d.created_at, d.updated_at`

// endpointColumns takes one parameter: the start of the 24 h window.
const endpointColumns = `e.seq, e.id, e.account_id, e.url, e.description, e.events, e.strict_order, e.status,
	e.disabled_reason, e.disabled_at, e.created_at, e.updated_at,
	COALESCE((SELECT prefix FROM endpoint_secrets WHERE endpoint_seq = e.seq ORDER BY seq DESC LIMIT 1), ''),
	e.queued_count, e.dropped_count,
	(SELECT CAST(SUM(successes) AS REAL) / SUM(attempts) FROM endpoint_stats WHERE endpoint_seq = e.seq AND hour >= ?)`

const apiKeyColumns = `seq, id, account_id, name, prefix, scopes, created_at, revoked_at`

const memberColumns = `seq, id, account_id, email, role, created_at`

// dueColumns are what a delivery's body and retry policy need.
const dueColumns = `SELECT d.seq, d.id, v.id, d.event_type, v.data, v.created_at, d.next_attempt_at, d.attempt_count, d.schedule_attempt,
	  e.secret_version
	FROM endpoints e JOIN deliveries d ON d.endpoint_seq = e.seq JOIN events v ON v.seq = d.event_seq `

// The scrape-time gauges (stats_test.go checks their plans): each is
// bounded by an index or the endpoints table, never the delivery log.
const (
	statsPending   = `SELECT count(*) FROM deliveries WHERE status = 'pending'`
	statsOldestDue = `SELECT min(due) FROM (
		   SELECT (SELECT min(d.next_attempt_at) FROM deliveries d
		           WHERE d.endpoint_seq = e.seq AND d.status = 'pending') AS due
		   FROM endpoints e
		   WHERE e.next_due_at IS NOT NULL AND e.next_due_at <= ?
		     AND (e.breaker_open_until IS NULL OR e.breaker_open_until <= ?))
		 WHERE due <= ?`
	statsEndpoints = `SELECT coalesce(sum(status = 'active' AND coalesce(breaker_open_until, 0) <= ?), 0),
		        coalesce(sum(status = 'active' AND coalesce(breaker_open_until, 0) > ?), 0),
		        coalesce(sum(status = 'disabled'), 0),
		        coalesce(sum(queued_count), 0)
		 FROM endpoints WHERE deleted_at IS NULL`
	statsTopFailing = `SELECT id, account_id, consecutive_failures FROM endpoints
		 WHERE deleted_at IS NULL AND status = 'active' AND consecutive_failures > 0
		 ORDER BY consecutive_failures DESC, seq LIMIT ?`
)

// gone finds deleted endpoints whose log has been pruned.
const gone = `SELECT seq FROM endpoints e WHERE deleted_at IS NOT NULL AND deleted_at < ?
	   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.endpoint_seq = e.seq) LIMIT ?`

var statements = func() engine.SQL {
	q := engine.SQL{
		PublishClock:         `UPDATE counters SET value = MAX(value, ?) WHERE name = 'publish_clock' RETURNING value`,
		SubscriptionsVersion: `SELECT value FROM counters WHERE name = 'subscriptions'`,
		SubscriptionsBump:    `UPDATE counters SET value = value + 1 WHERE name = 'subscriptions'`,
		Subscribers: `SELECT e.seq, e.id, e.status FROM subscriptions s JOIN endpoints e ON e.seq = s.endpoint_seq
			 WHERE s.account_id = ? AND s.event_type IN (?, '*') AND e.deleted_at IS NULL
			 GROUP BY e.seq ORDER BY e.seq`,
		SubscriptionsDelete: `DELETE FROM subscriptions WHERE endpoint_seq = ?`,
		SubscriptionInsert:  `INSERT OR IGNORE INTO subscriptions (account_id, event_type, endpoint_seq) VALUES (?, ?, ?)`,

		EventInsert: `INSERT INTO events (id, account_id, event_type, subject_id, data, deliveries, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`,

		DeliveryInsert: `INSERT INTO deliveries (id, account_id, endpoint_seq, event_seq, event_type, subject_id, status,
			   next_attempt_at, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		DeliveryGet: `SELECT ` + deliveryColumns + `, v.data, v.created_at
			 FROM deliveries d JOIN endpoints e ON e.seq = d.endpoint_seq JOIN events v ON v.seq = d.event_seq
			 WHERE d.id = ? AND d.account_id = ? AND e.id = ? AND e.deleted_at IS NULL`,
		AttemptsOf: `SELECT attempted_at, duration_ms, status_code, error, response_headers, response_body
			 FROM attempts WHERE delivery_seq = ? ORDER BY seq`,
		DeliveryStatusLock: `SELECT status FROM deliveries WHERE id = ? AND endpoint_seq = ? AND account_id = ?`,
		DeliveryReplay: `UPDATE deliveries SET status = 'pending', schedule_attempt = 0, next_attempt_at = ?, updated_at = ?
			 WHERE id = ? AND endpoint_seq = ? AND account_id = ?`,
		DeliveriesRecover: `UPDATE deliveries SET status = 'pending', schedule_attempt = 0, next_attempt_at = ?, updated_at = ?
			 WHERE endpoint_seq = ? AND status = 'failed' AND created_at >= ? AND created_at < ?`,
		DeliveriesCancel: `UPDATE deliveries SET status = 'dropped', last_error = ?, next_attempt_at = NULL, updated_at = ?
			 WHERE endpoint_seq = ? AND status = ?`,
		DeliveriesQueue: `UPDATE deliveries SET status = 'queued', next_attempt_at = NULL, updated_at = ?
			 WHERE endpoint_seq = ? AND status = 'pending'`,
		QueuedList: `SELECT ` + deliveryColumns + ` FROM deliveries d INDEXED BY deliveries_queued
			JOIN endpoints e ON e.seq = d.endpoint_seq JOIN events v ON v.seq = d.event_seq
			WHERE d.endpoint_seq = ? AND d.status = 'queued' AND d.seq > ? ORDER BY d.seq LIMIT ?`,
		QueuedDeliver: `UPDATE deliveries SET status = 'pending', schedule_attempt = 0, next_attempt_at = created_at, updated_at = ?
			 WHERE endpoint_seq = ? AND status = 'queued'`,
		QueuedDrop: `UPDATE deliveries SET status = 'dropped', last_error = ?, updated_at = ?
			 WHERE seq IN (SELECT seq FROM deliveries WHERE endpoint_seq = ? AND status = 'queued' ORDER BY seq LIMIT ?)`,
		QueuedExpired: `SELECT endpoint_seq, COUNT(*) FROM (SELECT endpoint_seq FROM deliveries WHERE status = 'queued' AND created_at < ?
			 ORDER BY created_at LIMIT ?) GROUP BY endpoint_seq`,

		EndpointsClaim: `UPDATE endpoints SET lease_owner = ?, lease_expires_at = ?
			 WHERE seq IN (
			   SELECT seq FROM endpoints
			   WHERE next_due_at <= ?3 AND deleted_at IS NULL AND status = 'active'
			     AND (lease_expires_at IS NULL OR lease_expires_at <= ?3)
			     AND (breaker_open_until IS NULL OR breaker_open_until <= ?3)
			   ORDER BY next_due_at LIMIT ?4)
			 RETURNING seq, id, account_id, url, strict_order, created_at,
			   consecutive_failures, breaker_trips, breaker_open_until, failed_deliveries, last_success_at, secret_version`,
		SecretsValid: `SELECT ciphertext, prefix, created_at, expires_at FROM endpoint_secrets
			 WHERE endpoint_seq = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq DESC`,
		EndpointsRenew:    `UPDATE endpoints SET lease_expires_at = ? WHERE lease_owner = ? AND deleted_at IS NULL RETURNING id`,
		EndpointLeaseLock: `SELECT seq, strict_order, breaker_open_until FROM endpoints WHERE id = ? AND lease_owner = ?`,
		EndpointNextDue:   `SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint_seq = ? AND status = 'pending'`,
		EndpointNextDueStrict: `SELECT next_attempt_at FROM deliveries WHERE endpoint_seq = ? AND status = 'pending'
			 ORDER BY seq LIMIT 1`,
		EndpointRelease: `UPDATE endpoints SET lease_owner = NULL, lease_expires_at = NULL, next_due_at = ? WHERE seq = ?`,
		DeliveriesDue: dueColumns + `
			WHERE e.id = ?1 AND d.status = 'pending'
			  AND d.next_attempt_at <= ?2 AND (d.next_attempt_at, d.seq) > (?3, ?4)
			ORDER BY d.next_attempt_at, d.seq LIMIT ?5`,
		DeliveriesDueStrict: dueColumns + `WHERE e.id = ? AND d.status = 'pending' ORDER BY d.seq LIMIT 1`,
		EndpointHealthSet: `UPDATE endpoints SET consecutive_failures = ?, breaker_trips = ?, breaker_open_until = ?, failed_deliveries = ?,
			   last_success_at = ? WHERE id = ? AND lease_owner = ?`,
		EndpointStatsAdd: `INSERT INTO endpoint_stats (endpoint_seq, hour, attempts, successes, delivered, failed) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (endpoint_seq, hour) DO UPDATE SET attempts = attempts + excluded.attempts,
			   successes = successes + excluded.successes, delivered = delivered + excluded.delivered,
			   failed = failed + excluded.failed`,
		EndpointQueuedAdd:  `UPDATE endpoints SET queued_count = queued_count + ? WHERE seq = ? RETURNING queued_count`,
		EndpointDroppedAdd: `UPDATE endpoints SET queued_count = queued_count - ?, dropped_count = dropped_count + ? WHERE seq = ?`,

		// Retention: each kind through an index, at most limit rows a call;
		// deleted rows' pages go to the freelist and later inserts reuse
		// them, so under steady load the file stops growing.
		PruneDeliveries: `DELETE FROM deliveries WHERE seq IN (
			   SELECT seq FROM deliveries WHERE created_at < ? AND status IN ('delivered', 'failed', 'dropped')
			   ORDER BY seq LIMIT ?) RETURNING seq`,
		// Hourly stats: one range of the primary key per endpoint.
		PruneStats: `DELETE FROM endpoint_stats WHERE endpoint_seq IN (SELECT seq FROM endpoints) AND hour < ?`,
		PruneIdempotency: `DELETE FROM idempotency_keys WHERE (scope, key) IN (
			   SELECT scope, key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
		PruneEvents: `DELETE FROM events WHERE seq IN (
			   SELECT seq FROM events v WHERE created_at < ?
			   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = v.seq)
			   ORDER BY seq LIMIT ?)`,
		PruneEndpointRows: []string{
			`DELETE FROM endpoint_secrets WHERE endpoint_seq IN (` + gone + `)`,
			`DELETE FROM endpoint_stats WHERE endpoint_seq IN (` + gone + `)`,
			`DELETE FROM subscriptions WHERE endpoint_seq IN (` + gone + `)`,
		},
		PruneEndpoints: `DELETE FROM endpoints WHERE seq IN (` + gone + `)`,

		EndpointInsert: `INSERT INTO endpoints (id, account_id, url, description, events, strict_order, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		SecretInsert:      `INSERT INTO endpoint_secrets (endpoint_seq, ciphertext, prefix, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		EndpointGet:       `SELECT ` + endpointColumns + ` FROM endpoints e WHERE e.id = ? AND e.account_id = ? AND e.deleted_at IS NULL`,
		EndpointSeq:       `SELECT seq FROM endpoints WHERE id = ? AND account_id = ? AND deleted_at IS NULL`,
		EndpointSeqStatus: `SELECT seq, status FROM endpoints WHERE id = ? AND account_id = ? AND deleted_at IS NULL`,
		EndpointDelete: `UPDATE endpoints SET deleted_at = ?, updated_at = ?, next_due_at = NULL, lease_owner = NULL, lease_expires_at = NULL
			 WHERE id = ? AND account_id = ? AND deleted_at IS NULL RETURNING seq`,
		EndpointUpdate: `UPDATE endpoints SET url = COALESCE(?, url), description = COALESCE(?, description),
			   strict_order = COALESCE(?, strict_order), events = COALESCE(?, events), updated_at = ?,
			   secret_version = secret_version + 1
			 WHERE seq = ?`,
		SecretsExpire:             `UPDATE endpoint_secrets SET expires_at = ? WHERE endpoint_seq = ? AND (expires_at IS NULL OR expires_at > ?)`,
		SecretsDeleteExpired:      `DELETE FROM endpoint_secrets WHERE endpoint_seq = ? AND expires_at <= ?`,
		EndpointSecretVersionBump: `UPDATE endpoints SET secret_version = secret_version + 1, updated_at = ? WHERE seq = ?`,
		EndpointReload: `SELECT seq, id, account_id, url, strict_order, created_at, secret_version,
			   consecutive_failures, breaker_trips, breaker_open_until, failed_deliveries, last_success_at FROM endpoints WHERE id = ?`,
		EndpointBreakerProbe: `UPDATE endpoints SET breaker_open_until = ? WHERE seq = ? AND breaker_open_until > ?`,
		SecretSample: `SELECT e.id, x.ciphertext FROM endpoint_secrets x JOIN endpoints e ON e.seq = x.endpoint_seq
			 ORDER BY x.seq DESC LIMIT 1`,
		EndpointDisable: `UPDATE endpoints SET status = 'disabled', disabled_reason = ?, disabled_at = ?, updated_at = ?, next_due_at = NULL
			 WHERE id = ? AND account_id = ? AND deleted_at IS NULL AND status = 'active' RETURNING seq, url`,
		EndpointEnable: `UPDATE endpoints SET status = 'active', disabled_reason = '', disabled_at = NULL, updated_at = ?,
			   consecutive_failures = 0, breaker_trips = 0, breaker_open_until = NULL, failed_deliveries = 0,
			   last_success_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
			   next_due_at = (SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint_seq = endpoints.seq AND status = 'pending')
			 WHERE id = ? AND account_id = ? AND deleted_at IS NULL AND status = 'disabled' RETURNING seq, url, queued_count`,

		IdempotencyInsert: `INSERT INTO idempotency_keys (scope, key, fingerprint, created_at, owner) VALUES (?, ?, ?, ?, ?)
			 ON CONFLICT (scope, key) DO NOTHING`,
		IdempotencyGet: `SELECT fingerprint, status, body, created_at, owner,
			        k.owner IS ? OR EXISTS (SELECT 1 FROM processes WHERE id = k.owner AND heartbeat_at >= ?)
			 FROM idempotency_keys k WHERE scope = ? AND key = ?`,
		IdempotencyTakeOver: `UPDATE idempotency_keys SET fingerprint = ?, created_at = ?, owner = ?, status = NULL, body = NULL
			 WHERE scope = ? AND key = ?`,
		IdempotencyComplete: `UPDATE idempotency_keys SET status = ?, body = ?, owner = NULL
			 WHERE scope = ? AND key = ? AND status IS NULL AND owner IS ?`,
		IdempotencyAbort:     `DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL AND owner IS ?`,
		IdempotencyFreeOwner: `DELETE FROM idempotency_keys WHERE owner = ? AND status IS NULL`,
		ProcessHeartbeat: `INSERT INTO processes (id, host, pid, pid_start, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
		ProcessList:   `SELECT id, host, pid, pid_start, started_at, heartbeat_at FROM processes ORDER BY started_at`,
		ProcessDelete: `DELETE FROM processes WHERE id = ?`,

		AccountInsert: `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)`,
		AccountGet:    `SELECT id, name, created_at FROM accounts WHERE id = ?`,
		AccountExists: `SELECT 1 FROM accounts WHERE id = ?`,
		AccountLock:   `SELECT 1 FROM accounts WHERE id = ?`,
		// Deliveries and attempts are found through the account's
		// endpoints, the way their indexes lead.
		AccountDelete: []string{
			`DELETE FROM attempts WHERE delivery_seq IN (SELECT seq FROM deliveries WHERE endpoint_seq IN (SELECT seq FROM endpoints WHERE account_id = ?))`,
			`DELETE FROM deliveries WHERE endpoint_seq IN (SELECT seq FROM endpoints WHERE account_id = ?)`,
			`DELETE FROM endpoint_secrets WHERE endpoint_seq IN (SELECT seq FROM endpoints WHERE account_id = ?)`,
			`DELETE FROM endpoint_stats WHERE endpoint_seq IN (SELECT seq FROM endpoints WHERE account_id = ?)`,
			`DELETE FROM subscriptions WHERE account_id = ?`,
			`DELETE FROM endpoints WHERE account_id = ?`,
			`DELETE FROM events WHERE account_id = ?`,
			`DELETE FROM idempotency_keys WHERE scope IN (SELECT id FROM api_keys WHERE account_id = ?)`,
			`DELETE FROM api_keys WHERE account_id = ?`,
			`DELETE FROM members WHERE account_id = ?`,
			`DELETE FROM sessions WHERE account_id = ?`,
			`DELETE FROM credit_thresholds WHERE account_id = ?`,
			`DELETE FROM credit_balances WHERE account_id = ?`,
			`DELETE FROM accounts WHERE id = ?`,
		},

		APIKeyInsert: `INSERT INTO api_keys (id, account_id, name, prefix, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		APIKeyByHash: `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE hash = ?`,
		APIKeyGet:    `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE id = ? AND account_id IS ?`,
		APIKeyRevoke: `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND account_id IS ?`,

		MemberInsert:        `INSERT INTO members (id, account_id, email, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		MemberGet:           `SELECT ` + memberColumns + ` FROM members WHERE account_id = ? AND id = ?`,
		MemberList:          `SELECT ` + memberColumns + ` FROM members WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		MemberCounts:        `SELECT COUNT(*), COALESCE(SUM(role = 'primary-owner'), 0) FROM members WHERE account_id = ?`,
		MemberEmailTaken:    `SELECT 1 FROM members WHERE account_id = ? AND email = ? AND id <> ?`,
		MemberDemotePrimary: `UPDATE members SET role = 'owner' WHERE account_id = ? AND role = 'primary-owner'`,
		MemberUpdate:        `UPDATE members SET email = ?, role = ?, password_hash = COALESCE(?, password_hash) WHERE seq = ?`,
		MemberDelete:        `DELETE FROM members WHERE seq = ?`,

		EventTypeInsert: `INSERT INTO event_types (name, description, example, deprecated, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		EventTypeEnsure: `INSERT INTO event_types (name, description, example, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			 ON CONFLICT (name) DO NOTHING`,
		EventTypeList:     `SELECT name, description, example, deprecated, reserved, created_at FROM event_types ORDER BY name`,
		EventTypeLock:     `SELECT name, description, example, deprecated, reserved, created_at FROM event_types WHERE name = ?`,
		EventTypeUpdate:   `UPDATE event_types SET description = ?, example = ?, deprecated = ?, updated_at = ? WHERE name = ?`,
		EventTypeReserved: `SELECT reserved FROM event_types WHERE name = ?`,
		EventTypeSubscribers: `SELECT count(*) FROM subscriptions s JOIN endpoints e ON e.seq = s.endpoint_seq
			 WHERE s.event_type = ? AND e.deleted_at IS NULL`,
		EventTypeDelete: `DELETE FROM event_types WHERE name = ?`,

		Thresholds:      `SELECT threshold, armed FROM credit_thresholds WHERE account_id = ? ORDER BY threshold DESC`,
		ThresholdDelete: `DELETE FROM credit_thresholds WHERE account_id = ? AND threshold = ?`,
		ThresholdInsert: `INSERT INTO credit_thresholds (account_id, threshold, armed, created_at) VALUES (?, ?, 1, ?)
			 ON CONFLICT (account_id, threshold) DO NOTHING`,
		ThresholdsDisarm: `UPDATE credit_thresholds SET armed = 0 WHERE account_id = ? AND armed = 1 AND threshold > ? RETURNING threshold`,
		ThresholdsArm:    `UPDATE credit_thresholds SET armed = 1 WHERE account_id = ? AND armed = 0 AND threshold < ?`,
		BalanceGet:       `SELECT balance, reported_at FROM credit_balances WHERE account_id = ?`,
		BalanceSet: `INSERT INTO credit_balances (account_id, balance, reported_at) VALUES (?, ?, ?)
			 ON CONFLICT (account_id) DO UPDATE SET balance = excluded.balance, reported_at = excluded.reported_at`,

		MemberCredentials: `SELECT id, account_id, email, role, created_at, password_hash FROM members WHERE email = ? ORDER BY seq`,
		SessionsPrune: `DELETE FROM sessions WHERE token_hash IN (
			   SELECT token_hash FROM sessions WHERE expires_at <= ? OR idle_until <= ? LIMIT ?)`,
		SessionInsert: `INSERT INTO sessions (token_hash, account_id, member_id, created_at, idle_until, expires_at)
			 VALUES (?, ?, ?, ?, ?, ?)`,
		SessionGet: `SELECT m.id, m.account_id, m.email, m.role, m.created_at, s.created_at, s.idle_until, s.expires_at
			 FROM sessions s JOIN members m ON m.id = s.member_id AND m.account_id = s.account_id
			 WHERE s.token_hash = ? AND s.idle_until > ? AND s.expires_at > ?`,
		SessionDelete:    `DELETE FROM sessions WHERE token_hash = ?`,
		SessionsOfMember: `DELETE FROM sessions WHERE member_id = ?`,
		EndpointHourly: `SELECT st.hour, st.attempts, st.successes, st.delivered, st.failed
			 FROM endpoints e JOIN endpoint_stats st ON st.endpoint_seq = e.seq
			 WHERE e.account_id = ? AND e.id = ? AND e.deleted_at IS NULL AND st.hour >= ?
			 ORDER BY st.hour`,
		SessionTouch: `UPDATE sessions SET idle_until = MIN(?, expires_at) WHERE token_hash = ?`,
		// The earliest pending delivery, or the end of an open breaker's
		// cool-down when later.
		EndpointsRelease: `UPDATE endpoints SET lease_owner = NULL, lease_expires_at = NULL,
			   next_due_at = (SELECT CASE WHEN MIN(d.next_attempt_at) IS NULL THEN NULL
			                  ELSE MAX(MIN(d.next_attempt_at), COALESCE(endpoints.breaker_open_until, 0)) END
			                  FROM deliveries d WHERE d.endpoint_seq = endpoints.seq AND d.status = 'pending')
			 WHERE lease_owner = ?`,

		StatsPending:    statsPending,
		StatsOldestDue:  statsOldestDue,
		StatsEndpoints:  statsEndpoints,
		StatsTopFailing: statsTopFailing,
	}
	q.EventList.Select = `SELECT seq, id, event_type, subject_id, data, deliveries, created_at FROM events WHERE account_id = ? AND seq > ?`
	q.EventList.Type = ` AND event_type = ?`
	q.EventList.Order = ` ORDER BY seq LIMIT ?`

	q.DeliveryList.Select = `SELECT ` + deliveryColumns
	q.DeliveryList.From = listPlan
	q.DeliveryList.Where = ` WHERE d.endpoint_seq = ?`
	q.DeliveryList.Before = ` AND d.seq < ?`
	q.DeliveryList.Type = ` AND d.event_type = ?`
	// A literal, not a parameter: SQLite uses a partial index only when it
	// can see the value.
	q.DeliveryList.Status = func(s webhook.DeliveryStatus) string { return ` AND d.status = '` + string(s) + `'` }
	q.DeliveryList.Subject = ` AND v.account_id = ? AND v.subject_id = ? AND v.subject_id <> ''`
	// Times become bounds on seq through the append-only created_at index,
	// so a window deep in a long log is reached without scanning to it;
	// the times themselves are checked too.
	q.DeliveryList.Since = ` AND d.seq >= COALESCE((SELECT seq FROM deliveries WHERE created_at >= ? ORDER BY created_at, seq LIMIT 1), 9223372036854775807)
		       AND d.created_at >= ?`
	q.DeliveryList.Until = ` AND d.seq < COALESCE((SELECT seq FROM deliveries WHERE created_at >= ? ORDER BY created_at, seq LIMIT 1), 9223372036854775807)
		       AND d.created_at < ?`
	q.DeliveryList.Order = ` ORDER BY d.seq DESC LIMIT ?`

	q.EndpointList.Select = `SELECT ` + endpointColumns + ` FROM endpoints e WHERE e.account_id = ? AND e.deleted_at IS NULL`
	q.EndpointList.Before = ` AND e.seq < ?`
	q.EndpointList.Search = ` AND (e.url LIKE ? ESCAPE '\' OR e.description LIKE ? ESCAPE '\')`
	q.EndpointList.Order = ` ORDER BY e.seq DESC LIMIT ?`

	q.AccountList.Select = `SELECT seq, id, name, created_at FROM accounts WHERE 1 = 1`
	q.AccountList.Before = ` AND seq < ?`
	q.AccountList.Search = ` AND name LIKE ? ESCAPE '\'` // LIKE ignores the case of ASCII letters
	q.AccountList.Order = ` ORDER BY seq DESC LIMIT ?`

	q.APIKeyList.Select = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE account_id = ?`
	q.APIKeyList.SelectOperator = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE account_id IS NULL`
	q.APIKeyList.Before = ` AND seq < ?`
	q.APIKeyList.Order = ` ORDER BY seq DESC LIMIT ?`
	q.EventsFind = func(n int) string {
		return `SELECT account_id, id, event_type, subject_id, data, deliveries, created_at FROM events
			 WHERE (account_id, id) IN (VALUES ` + engine.Placeholders(n, 2) + `)`
	}
	q.EventsInsert = func(n int) string {
		return `INSERT INTO events (id, account_id, event_type, subject_id, data, deliveries, created_at)
			 VALUES ` + engine.Placeholders(n, 7) + ` RETURNING account_id, id, seq`
	}
	q.DeliveriesInsert = func(n int) string {
		return `INSERT INTO deliveries (id, account_id, endpoint_seq, event_seq, event_type, subject_id, status,
			   next_attempt_at, created_at, updated_at) VALUES ` + engine.Placeholders(n, 10)
	}
	q.EndpointsWake = func(n int) string {
		return `UPDATE endpoints SET next_due_at = MIN(COALESCE(next_due_at, ?), ?) WHERE seq IN (` + engine.List(n) + `)`
	}
	q.DeliveriesForRecord = func(n int) string {
		return `SELECT d.id, d.seq, d.endpoint_seq, d.status, e.status, d.account_id, e.id, v.id, d.event_type, d.attempt_count
			 FROM deliveries d JOIN endpoints e ON e.seq = d.endpoint_seq JOIN events v ON v.seq = d.event_seq
			 WHERE d.id IN (` + engine.List(n) + `)`
	}
	q.DeliveriesRecord = func(n int) string {
		return `UPDATE deliveries SET status = v.column1, next_attempt_at = v.column2, schedule_attempt = v.column3,
			   attempt_count = attempt_count + 1, last_status_code = v.column4, last_error = v.column5, updated_at = v.column6
			 FROM (VALUES ` + engine.Placeholders(n, 7) + `) AS v WHERE deliveries.seq = v.column7`
	}
	q.AttemptsInsert = func(n int) string {
		return `INSERT INTO attempts (delivery_seq, attempted_at, duration_ms, status_code, error, response_headers, response_body)
			 VALUES ` + engine.Placeholders(n, 7)
	}
	q.PruneAttempts = func(n int) string { return `DELETE FROM attempts WHERE delivery_seq IN (` + engine.List(n) + `)` }
	return q
}()

// pendingSortLimit: up to this many pending deliveries, a pending filter
// reads them from the due index and sorts them; beyond it, scanning the log
// newest first finds a page of them sooner.
const pendingSortLimit = 10_000

// listPlan picks the index a delivery-log query walks, most selective
// filter first, instead of leaving it to the planner: without statistics
// SQLite cannot know that a status is rare or a subject unique, and a wrong
// guess turns a page of 50 into a scan of a million rows.
func listPlan(ctx context.Context, r engine.Querier, epSeq int64, p store.DeliveryListParams) (string, error) {
	const rest = ` JOIN endpoints e ON e.seq = d.endpoint_seq`
	switch {
	case p.SubjectID != "":
		// From the event: a subject matches a handful of events.
		return ` FROM events v INDEXED BY events_account_subject CROSS JOIN deliveries d INDEXED BY deliveries_event ON d.event_seq = v.seq` + rest, nil
	case p.Status == webhook.StatusFailed || p.Status == webhook.StatusQueued || p.Status == webhook.StatusDropped:
		return ` FROM deliveries d INDEXED BY deliveries_` + string(p.Status) + ` JOIN events v ON v.seq = d.event_seq` + rest, nil
	case p.Status == webhook.StatusPending:
		var n int
		if err := r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM deliveries INDEXED BY deliveries_due
			WHERE endpoint_seq = ? AND status = 'pending' LIMIT ?)`, epSeq, pendingSortLimit).Scan(&n); err != nil {
			return "", err
		}
		if n < pendingSortLimit {
			return ` FROM deliveries d INDEXED BY deliveries_due JOIN events v ON v.seq = d.event_seq` + rest, nil
		}
	case p.EventType != "":
		return ` FROM deliveries d INDEXED BY deliveries_endpoint_type JOIN events v ON v.seq = d.event_seq` + rest, nil
	}
	return ` FROM deliveries d INDEXED BY deliveries_endpoint JOIN events v ON v.seq = d.event_seq` + rest, nil
}
