-- Agents in the portal's cluster authenticate with their projected ServiceAccount token,
-- checked with the Kubernetes TokenReview API and bound to the agent's pod and its node
-- (server/src/energy/agent_identity.rs); such a batch has no node token. The batch records the
-- pod instead. (Expand only: the previous release still writes node_token_id.)
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '60s';

-- Nothing reads node_token_id (it is written by ingest only), so no reader breaks on a NULL.
-- squawk-ignore ban-drop-not-null
ALTER TABLE energy_batches ALTER COLUMN node_token_id DROP NOT NULL;
ALTER TABLE energy_batches ADD COLUMN agent_pod TEXT;
ALTER TABLE energy_batches ADD CONSTRAINT energy_batches_one_credential
    CHECK (node_token_id IS NOT NULL OR agent_pod IS NOT NULL) NOT VALID;
