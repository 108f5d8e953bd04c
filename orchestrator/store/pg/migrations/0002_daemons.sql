-- The daemons of every machine on this queue, as each last said it was alive (status shows them).
CREATE TABLE orchestrator_daemons (
    machine  text NOT NULL,          -- host/state-directory, as a claim's lease_host
    pid      integer NOT NULL,
    started  timestamptz NOT NULL,
    seen     timestamptz NOT NULL,
    PRIMARY KEY (machine, pid)
);
