-- The queue on PostgreSQL: the same states, task text and journal as the file queue (docs/SCALE.md).

-- One row a task. `text` is the task file exactly as the file queue writes it (formats/task.py
-- render), so every field and its parsing stay in one place; the columns beside it are what
-- queries need without parsing. A task is in one state because it is one row.
CREATE TABLE orchestrator_tasks (
    id            text PRIMARY KEY,
    state         text NOT NULL CHECK (state IN ('blocked', 'incoming', 'claimed', 'provisional', 'landing',
                                                 'done', 'failed')),
    text          text NOT NULL,
    priority      text NOT NULL,
    role          text NOT NULL,
    agent         text,
    created       timestamptz NOT NULL,
    moved_at      timestamptz NOT NULL DEFAULT now(),
    version       bigint NOT NULL DEFAULT 1,        -- goes up at every write: the import's "changed since"
    -- The claim: a fencing token that goes up at every claim (a write from an older claim is
    -- refused), and the lease of the runner holding it, renewed by its heartbeat.
    fence         bigint NOT NULL DEFAULT 0,
    lease_host    text,
    lease_pid     integer,
    lease_started timestamptz,
    lease_expires timestamptz
);
-- Ids that differ only in case would be the same file and branch on a case-insensitive disk.
CREATE UNIQUE INDEX orchestrator_tasks_id_lower ON orchestrator_tasks (lower(id));
CREATE INDEX orchestrator_tasks_by_state ON orchestrator_tasks (state, priority, created, id);
CREATE INDEX orchestrator_tasks_leases ON orchestrator_tasks (lease_expires) WHERE state = 'claimed';

-- The journal: one row an event, in the order they were written.
CREATE TABLE orchestrator_events (
    seq     bigserial PRIMARY KEY,
    ts      timestamptz NOT NULL,
    event   text NOT NULL,
    actor   text NOT NULL,
    task    text,
    fields  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX orchestrator_events_by_task ON orchestrator_events (task, seq);
