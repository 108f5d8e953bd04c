-- Each event carries the transaction that wrote it, so a reader can take events by transaction:
-- an event of a transaction still running when a later one committed keeps its place (sequence
-- numbers are given at insert, not at commit, so "after the last seq read" can miss it).
ALTER TABLE orchestrator_events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX orchestrator_events_by_xid ON orchestrator_events (xid);
