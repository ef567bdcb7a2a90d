-- The group roles' rights, granted by every --init (idempotent) once the
-- roles exist. Readers: what a sync needs (the flag document and its
-- version, the database's id, their own heartbeat; LISTEN needs no grant).
-- Editors: that, the audit and the syncs to read, and the two functions
-- through which every edit writes. Neither role owns anything nor may
-- write a table directly.
GRANT USAGE ON SCHEMA feature_flags TO feature_flags_reader, feature_flags_editor;
GRANT SELECT ON feature_flags.documents, feature_flags.schema_version
  TO feature_flags_reader, feature_flags_editor;
GRANT EXECUTE ON FUNCTION feature_flags.sync_heartbeat(text, text, bigint, text)
  TO feature_flags_reader, feature_flags_editor;
GRANT SELECT ON feature_flags.audit, feature_flags.syncs TO feature_flags_editor;
GRANT EXECUTE ON FUNCTION feature_flags.lock_documents(bigint),
  feature_flags.write_documents(text, text, bigint, bigint, jsonb) TO feature_flags_editor;
