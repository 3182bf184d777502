-- +goose Up
-- The publish clock (see internal/store/engine): every transaction that
-- inserts events or deliveries advances it first, so that their positions
-- are in commit order and publish times never go backwards. The value is
-- the last publish time, unix ms.
INSERT INTO counters (name, value) VALUES ('publish_clock', 0);

-- +goose Down
DELETE FROM counters WHERE name = 'publish_clock';
