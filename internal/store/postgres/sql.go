package postgres

import (
	"context"
	"strings"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/engine"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// PostgreSQL's statements, with ? placeholders numbered by rebind.
// Statements engine.SQL marks "locks" take row locks here.

const deliveryColumns = `d.seq, d.id, d.account_id, e.id, v.id, d.event_type, d.subject_id, d.status, d.attempt_count,
	d.last_status_code, d.last_error, d.next_attempt_at, d.created_at, d.updated_at`

const endpointColumns = `e.seq, e.id, e.account_id, e.url, e.description, e.events, e.strict_order, e.status,
	e.disabled_reason, e.disabled_at, e.created_at, e.updated_at,
	COALESCE((SELECT prefix FROM endpoint_secrets WHERE endpoint_seq = e.seq ORDER BY seq DESC LIMIT 1), ''),
	e.queued_count, e.dropped_count,
	(SELECT SUM(successes)::float8 / SUM(attempts) FROM endpoint_stats WHERE endpoint_seq = e.seq AND hour >= ?)`

const apiKeyColumns = `seq, id, account_id, name, prefix, scopes, created_at, revoked_at`

const memberColumns = `seq, id, account_id, email, role, created_at`

const dueColumns = `SELECT d.seq, d.id, v.id, d.event_type, v.data, v.created_at, d.next_attempt_at, d.attempt_count, d.schedule_attempt,
	  e.secret_version
	FROM endpoints e JOIN deliveries d ON d.endpoint_seq = e.seq JOIN events v ON v.seq = d.event_seq `

const deliveryFrom = ` FROM deliveries d JOIN events v ON v.seq = d.event_seq JOIN endpoints e ON e.seq = d.endpoint_seq`

const gone = `SELECT seq FROM endpoints e WHERE deleted_at IS NOT NULL AND deleted_at < ?
	   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.endpoint_seq = e.seq) LIMIT ?`

// lockInOrder updates the endpoint rows sel finds (a SELECT of seq),
// locking them in seq order before it changes them: an UPDATE alone locks
// in the order it happens to scan, and two transactions locking several
// endpoint rows in different orders deadlock. set is the SET clause,
// returning an optional RETURNING clause; parameters: sel's, then set's.
func lockInOrder(sel, set, returning string) string {
	return `WITH l AS (` + sel + ` ORDER BY seq FOR UPDATE) UPDATE endpoints ` + set +
		` FROM l WHERE endpoints.seq = l.seq` + returning
}

var statements = func() engine.SQL {
	q := engine.SQL{
		// The row lock is held until commit: publishing transactions draw
		// their seqs one after another, in commit order.
		PublishClock:         `UPDATE counters SET value = GREATEST(value, ?) WHERE name = 'publish_clock' RETURNING value`,
		SubscriptionsVersion: `SELECT value FROM counters WHERE name = 'subscriptions' FOR SHARE`,
		SubscriptionsBump:    `UPDATE counters SET value = value + 1 WHERE name = 'subscriptions'`,
		Subscribers: `SELECT e.seq, e.id, e.status FROM subscriptions s JOIN endpoints e ON e.seq = s.endpoint_seq
			 WHERE s.account_id = ? AND s.event_type IN (?, '*') AND e.deleted_at IS NULL
			 GROUP BY e.seq ORDER BY e.seq`,
		SubscriptionsDelete: `DELETE FROM subscriptions WHERE endpoint_seq = ?`,
		SubscriptionInsert: `INSERT INTO subscriptions (account_id, event_type, endpoint_seq) VALUES (?, ?, ?)
			 ON CONFLICT DO NOTHING`,

		EventInsert: `INSERT INTO events (id, account_id, event_type, subject_id, data, deliveries, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`,

		DeliveryInsert: `INSERT INTO deliveries (id, account_id, endpoint_seq, event_seq, event_type, subject_id, status,
			   next_attempt_at, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		DeliveryGet: `SELECT ` + deliveryColumns + `, v.data, v.created_at` + deliveryFrom + `
			 WHERE d.id = ? AND d.account_id = ? AND e.id = ? AND e.deleted_at IS NULL`,
		AttemptsOf: `SELECT attempted_at, duration_ms, status_code, error, response_headers, response_body
			 FROM attempts WHERE delivery_seq = ? ORDER BY seq`,
		DeliveryStatusLock: `SELECT status FROM deliveries WHERE id = ? AND endpoint_seq = ? AND account_id = ? FOR UPDATE`,
		DeliveryReplay: `UPDATE deliveries SET status = 'pending', schedule_attempt = 0, next_attempt_at = ?, updated_at = ?
			 WHERE id = ? AND endpoint_seq = ? AND account_id = ?`,
		DeliveriesRecover: `UPDATE deliveries SET status = 'pending', schedule_attempt = 0, next_attempt_at = ?, updated_at = ?
			 WHERE endpoint_seq = ? AND status = 'failed' AND created_at >= ? AND created_at < ?`,
		DeliveriesCancel: `UPDATE deliveries SET status = 'dropped', last_error = ?, next_attempt_at = NULL, updated_at = ?
			 WHERE endpoint_seq = ? AND status = ?`,
		DeliveriesQueue: `UPDATE deliveries SET status = 'queued', next_attempt_at = NULL, updated_at = ?
			 WHERE endpoint_seq = ? AND status = 'pending'`,
		QueuedList: `SELECT ` + deliveryColumns + deliveryFrom + `
			WHERE d.endpoint_seq = ? AND d.status = 'queued' AND d.seq > ? ORDER BY d.seq LIMIT ?`,
		QueuedDeliver: `UPDATE deliveries SET status = 'pending', schedule_attempt = 0, next_attempt_at = created_at, updated_at = ?
			 WHERE endpoint_seq = ? AND status = 'queued'`,
		QueuedDrop: `UPDATE deliveries SET status = 'dropped', last_error = ?, updated_at = ?
			 WHERE seq IN (SELECT seq FROM deliveries WHERE endpoint_seq = ? AND status = 'queued' ORDER BY seq LIMIT ?)`,
		QueuedExpired: `SELECT endpoint_seq, COUNT(*) FROM (SELECT endpoint_seq FROM deliveries WHERE status = 'queued' AND created_at < ?
			 ORDER BY created_at LIMIT ?) q GROUP BY endpoint_seq`,

		// SKIP LOCKED: nodes claiming at once take different endpoints
		// instead of queueing behind each other's row locks.
		EndpointsClaim: `UPDATE endpoints SET lease_owner = $1, lease_expires_at = $2
			 WHERE seq IN (
			   SELECT seq FROM endpoints
			   WHERE next_due_at <= $3 AND deleted_at IS NULL AND status = 'active'
			     AND (lease_expires_at IS NULL OR lease_expires_at <= $3)
			     AND (breaker_open_until IS NULL OR breaker_open_until <= $3)
			   ORDER BY next_due_at LIMIT $4
			   FOR UPDATE SKIP LOCKED)
			 RETURNING seq, id, account_id, url, strict_order, created_at,
			   consecutive_failures, breaker_trips, breaker_open_until, failed_deliveries, last_success_at, secret_version`,
		SecretsValid: `SELECT ciphertext, prefix, created_at, expires_at FROM endpoint_secrets
			 WHERE endpoint_seq = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq DESC`,
		// Rows are locked in seq order first (lockInOrder): every
		// statement that locks several endpoint rows does so, so two never
		// wait on each other in a circle.
		EndpointsRenew: lockInOrder(`SELECT seq FROM endpoints WHERE lease_owner = $2 AND deleted_at IS NULL`,
			`SET lease_expires_at = $1`, ` RETURNING id`),
		EndpointLeaseLock: `SELECT seq, strict_order, breaker_open_until FROM endpoints WHERE id = ? AND lease_owner = ? FOR UPDATE`,
		EndpointNextDue:   `SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint_seq = ? AND status = 'pending'`,
		EndpointNextDueStrict: `SELECT next_attempt_at FROM deliveries WHERE endpoint_seq = ? AND status = 'pending'
			 ORDER BY seq LIMIT 1`,
		EndpointRelease: `UPDATE endpoints SET lease_owner = NULL, lease_expires_at = NULL, next_due_at = ? WHERE seq = ?`,
		Notify:          `SELECT pg_notify('` + channel + `', ?)`,
		DeliveriesDue: dueColumns + `
			WHERE e.id = $1 AND d.status = 'pending'
			  AND d.next_attempt_at <= $2 AND (d.next_attempt_at, d.seq) > ($3, $4)
			ORDER BY d.next_attempt_at, d.seq LIMIT $5`,
		DeliveriesDueStrict: dueColumns + `WHERE e.id = ? AND d.status = 'pending' ORDER BY d.seq LIMIT 1`,
		EndpointHealthSet: `UPDATE endpoints SET consecutive_failures = ?, breaker_trips = ?, breaker_open_until = ?, failed_deliveries = ?,
			   last_success_at = ? WHERE id = ? AND lease_owner = ?`,
		EndpointStatsAdd: `INSERT INTO endpoint_stats AS s (endpoint_seq, hour, attempts, successes, delivered, failed) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (endpoint_seq, hour) DO UPDATE SET attempts = s.attempts + excluded.attempts,
			   successes = s.successes + excluded.successes, delivered = s.delivered + excluded.delivered,
			   failed = s.failed + excluded.failed`,
		EndpointQueuedAdd:  `UPDATE endpoints SET queued_count = queued_count + ? WHERE seq = ? RETURNING queued_count`,
		EndpointDroppedAdd: `UPDATE endpoints SET queued_count = queued_count - ?, dropped_count = dropped_count + ? WHERE seq = ?`,

		PruneDeliveries: `DELETE FROM deliveries WHERE seq IN (
			   SELECT seq FROM deliveries WHERE created_at < ? AND status IN ('delivered', 'failed', 'dropped')
			   ORDER BY seq LIMIT ?) RETURNING seq`,
		PruneStats: `DELETE FROM endpoint_stats WHERE hour < ?`,
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
		EndpointSeqStatus: `SELECT seq, status FROM endpoints WHERE id = ? AND account_id = ? AND deleted_at IS NULL FOR SHARE`,
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
			        k.owner IS NOT DISTINCT FROM ? OR EXISTS (SELECT 1 FROM processes WHERE id = k.owner AND heartbeat_at >= ?)
			 FROM idempotency_keys k WHERE scope = ? AND key = ? FOR UPDATE OF k`,
		IdempotencyTakeOver: `UPDATE idempotency_keys SET fingerprint = ?, created_at = ?, owner = ?, status = NULL, body = NULL
			 WHERE scope = ? AND key = ?`,
		IdempotencyComplete: `UPDATE idempotency_keys SET status = ?, body = ?, owner = NULL
			 WHERE scope = ? AND key = ? AND status IS NULL AND owner IS NOT DISTINCT FROM ?`,
		IdempotencyAbort: `DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL
			 AND owner IS NOT DISTINCT FROM ?`,
		IdempotencyFreeOwner: `DELETE FROM idempotency_keys WHERE owner = ? AND status IS NULL`,
		ProcessHeartbeat: `INSERT INTO processes (id, host, pid, pid_start, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
		ProcessList:   `SELECT id, host, pid, pid_start, started_at, heartbeat_at FROM processes ORDER BY started_at`,
		ProcessDelete: `DELETE FROM processes WHERE id = ?`,

		AccountInsert: `INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)`,
		AccountGet:    `SELECT id, name, created_at FROM accounts WHERE id = ?`,
		AccountExists: `SELECT 1 FROM accounts WHERE id = ?`,
		AccountLock:   `SELECT 1 FROM accounts WHERE id = ? FOR UPDATE`,
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
		APIKeyGet:    `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE id = ? AND account_id IS NOT DISTINCT FROM ?`,
		APIKeyRevoke: `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND account_id IS NOT DISTINCT FROM ?`,

		MemberInsert:        `INSERT INTO members (id, account_id, email, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		MemberGet:           `SELECT ` + memberColumns + ` FROM members WHERE account_id = ? AND id = ?`,
		MemberList:          `SELECT ` + memberColumns + ` FROM members WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		MemberCounts:        `SELECT COUNT(*), COUNT(*) FILTER (WHERE role = 'primary-owner') FROM members WHERE account_id = ?`,
		MemberEmailTaken:    `SELECT 1 FROM members WHERE account_id = ? AND email = ? AND id <> ?`,
		MemberDemotePrimary: `UPDATE members SET role = 'owner' WHERE account_id = ? AND role = 'primary-owner'`,
		MemberUpdate:        `UPDATE members SET email = ?, role = ?, password_hash = COALESCE(?, password_hash) WHERE seq = ?`,
		MemberDelete:        `DELETE FROM members WHERE seq = ?`,

		EventTypeInsert: `INSERT INTO event_types (name, description, example, deprecated, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		EventTypeEnsure: `INSERT INTO event_types (name, description, example, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			 ON CONFLICT (name) DO NOTHING`,
		EventTypeList:     `SELECT name, description, example, deprecated, reserved, created_at FROM event_types ORDER BY name`,
		EventTypeLock:     `SELECT name, description, example, deprecated, reserved, created_at FROM event_types WHERE name = ? FOR UPDATE`,
		EventTypeUpdate:   `UPDATE event_types SET description = ?, example = ?, deprecated = ?, updated_at = ? WHERE name = ?`,
		EventTypeReserved: `SELECT reserved FROM event_types WHERE name = ?`,
		EventTypeSubscribers: `SELECT count(*) FROM subscriptions s JOIN endpoints e ON e.seq = s.endpoint_seq
			 WHERE s.event_type = ? AND e.deleted_at IS NULL`,
		EventTypeDelete: `DELETE FROM event_types WHERE name = ?`,

		Thresholds:      `SELECT threshold, armed FROM credit_thresholds WHERE account_id = ? ORDER BY threshold DESC`,
		ThresholdDelete: `DELETE FROM credit_thresholds WHERE account_id = ? AND threshold = ?`,
		ThresholdInsert: `INSERT INTO credit_thresholds (account_id, threshold, armed, created_at) VALUES (?, ?, true, ?)
			 ON CONFLICT (account_id, threshold) DO NOTHING`,
		ThresholdsDisarm: `UPDATE credit_thresholds SET armed = false WHERE account_id = ? AND armed AND threshold > ? RETURNING threshold`,
		ThresholdsArm:    `UPDATE credit_thresholds SET armed = true WHERE account_id = ? AND NOT armed AND threshold < ?`,
		BalanceGet:       `SELECT balance, reported_at FROM credit_balances WHERE account_id = ?`,
		BalanceSet: `INSERT INTO credit_balances (account_id, balance, reported_at) VALUES (?, ?, ?)
			 ON CONFLICT (account_id) DO UPDATE SET balance = excluded.balance, reported_at = excluded.reported_at`,

		// Scrape-time gauges: the partial index deliveries_due holds
		// pending deliveries only, and the rest reads the endpoints.
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
		SessionTouch: `UPDATE sessions SET idle_until = LEAST(?, expires_at) WHERE token_hash = ?`,
		EndpointsRelease: lockInOrder(`SELECT seq FROM endpoints WHERE lease_owner = ?`,
			`SET lease_owner = NULL, lease_expires_at = NULL,
			   next_due_at = (SELECT CASE WHEN MIN(d.next_attempt_at) IS NULL THEN NULL
			                  ELSE GREATEST(MIN(d.next_attempt_at), COALESCE(endpoints.breaker_open_until, 0)) END
			                  FROM deliveries d WHERE d.endpoint_seq = endpoints.seq AND d.status = 'pending')`, ``),

		StatsPending: `SELECT count(*) FROM deliveries WHERE status = 'pending'`,
		StatsOldestDue: `SELECT min(due) FROM (
			   SELECT (SELECT min(d.next_attempt_at) FROM deliveries d
			           WHERE d.endpoint_seq = e.seq AND d.status = 'pending') AS due
			   FROM endpoints e
			   WHERE e.next_due_at IS NOT NULL AND e.next_due_at <= ?
			     AND (e.breaker_open_until IS NULL OR e.breaker_open_until <= ?)) o
			 WHERE due <= ?`,
		StatsEndpoints: `SELECT count(*) FILTER (WHERE status = 'active' AND coalesce(breaker_open_until, 0) <= ?),
			        count(*) FILTER (WHERE status = 'active' AND coalesce(breaker_open_until, 0) > ?),
			        count(*) FILTER (WHERE status = 'disabled'),
			        coalesce(sum(queued_count), 0)
			 FROM endpoints WHERE deleted_at IS NULL`,
		StatsTopFailing: `SELECT id, account_id, consecutive_failures FROM endpoints
			 WHERE deleted_at IS NULL AND status = 'active' AND consecutive_failures > 0
			 ORDER BY consecutive_failures DESC, seq LIMIT ?`,
	}
	q.EventList.Select = `SELECT seq, id, event_type, subject_id, data, deliveries, created_at FROM events WHERE account_id = ? AND seq > ?`
	q.EventList.Type = ` AND event_type = ?`
	q.EventList.Order = ` ORDER BY seq LIMIT ?`

	q.DeliveryList.Select = `SELECT ` + deliveryColumns
	q.DeliveryList.From = func(context.Context, engine.Querier, int64, store.DeliveryListParams) (string, error) {
		return deliveryFrom, nil // the planner has statistics: no hints
	}
	q.DeliveryList.Where = ` WHERE d.endpoint_seq = ?`
	q.DeliveryList.Before = ` AND d.seq < ?`
	q.DeliveryList.Type = ` AND d.event_type = ?`
	q.DeliveryList.Status = func(s webhook.DeliveryStatus) string { return ` AND d.status = '` + string(s) + `'` }
	q.DeliveryList.Subject = ` AND v.account_id = ? AND v.subject_id = ? AND v.subject_id <> ''`
	q.DeliveryList.Since = ` AND d.created_at >= ? AND d.created_at >= ?`
	q.DeliveryList.Until = ` AND d.created_at < ? AND d.created_at < ?`
	q.DeliveryList.Order = ` ORDER BY d.seq DESC LIMIT ?`

	q.EndpointList.Select = `SELECT ` + endpointColumns + ` FROM endpoints e WHERE e.account_id = ? AND e.deleted_at IS NULL`
	q.EndpointList.Before = ` AND e.seq < ?`
	q.EndpointList.Search = ` AND (e.url ILIKE ? ESCAPE '\' OR e.description ILIKE ? ESCAPE '\')`
	q.EndpointList.Order = ` ORDER BY e.seq DESC LIMIT ?`

	q.AccountList.Select = `SELECT seq, id, name, created_at FROM accounts WHERE true`
	q.AccountList.Before = ` AND seq < ?`
	q.AccountList.Search = ` AND name ILIKE ? ESCAPE '\'`
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
		// The rows' order of locking is seq order, not the IN list's scan
		// order (see lockInOrder); the parameters stay in order: at, at, seqs.
		return `WITH at AS (SELECT ?::bigint AS v, ?::bigint AS w),
			   l AS (SELECT seq FROM endpoints WHERE seq IN (` + engine.List(n) + `) ORDER BY seq FOR UPDATE)
			 UPDATE endpoints SET next_due_at = LEAST(COALESCE(next_due_at, at.v), at.w) FROM l, at WHERE endpoints.seq = l.seq`
	}
	q.DeliveriesForRecord = func(n int) string {
		return `SELECT d.id, d.seq, d.endpoint_seq, d.status, e.status, d.account_id, e.id, v.id, d.event_type, d.attempt_count
			 FROM deliveries d JOIN endpoints e ON e.seq = d.endpoint_seq JOIN events v ON v.seq = d.event_seq
			 WHERE d.id IN (` + engine.List(n) + `) ORDER BY d.seq FOR UPDATE OF d`
	}
	q.DeliveriesRecord = func(n int) string {
		// The values are typed: PostgreSQL would read parameters of a
		// VALUES list as text.
		row := `(?::text, ?::bigint, ?::integer, ?::integer, ?::text, ?::bigint, ?::bigint)`
		return `UPDATE deliveries AS d SET status = v.status, next_attempt_at = v.next, schedule_attempt = v.sched,
			   attempt_count = d.attempt_count + 1, last_status_code = v.code, last_error = v.err, updated_at = v.at
			 FROM (VALUES ` + row + strings.Repeat(", "+row, n-1) + `) AS v(status, next, sched, code, err, at, seq)
			 WHERE d.seq = v.seq`
	}
	q.AttemptsInsert = func(n int) string {
		return `INSERT INTO attempts (delivery_seq, attempted_at, duration_ms, status_code, error, response_headers, response_body)
			 VALUES ` + engine.Placeholders(n, 7)
	}
	q.PruneAttempts = func(n int) string { return `DELETE FROM attempts WHERE delivery_seq IN (` + engine.List(n) + `)` }
	return q
}()
